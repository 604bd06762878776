namespace Diffusion.Hub;

/// <summary>The file of a Civitai model version that is downloaded: its name, published SHA-256 and download address.</summary>
internal sealed record CivitaiFile(string Name, string Sha256, Uri DownloadUrl, double? SizeKB);
