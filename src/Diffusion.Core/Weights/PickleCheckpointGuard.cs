namespace Diffusion.Core.Weights;

/// <summary>
/// Refuses PyTorch pickle checkpoints (<c>.ckpt</c>, <c>.pt</c>, <c>.pth</c>, <c>.bin</c>, <c>.pkl</c>, or a file
/// that starts like a pickle stream or a torch zip archive). Unpickling runs arbitrary code from the file, so
/// the library never reads one; users convert them to <c>.safetensors</c> first.
/// </summary>
internal static class PickleCheckpointGuard
{
    private static readonly string[] s_pickleExtensions = [".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle"];

    private const string Advice =
        "it is a PyTorch pickle checkpoint; loading one executes code stored in the file, so Diffusion.Core refuses it. " +
        "Convert it to .safetensors (e.g. with the safetensors 'convert' tool or kohya's scripts) and load that.";

    /// <summary>Whether <paramref name="path"/>'s extension names a pickle format.</summary>
    public static bool HasPickleExtension(string path)
    {
        string extension = Path.GetExtension(path);
        foreach (string pickle in s_pickleExtensions)
        {
            if (string.Equals(extension, pickle, StringComparison.OrdinalIgnoreCase))
                return true;
        }
        return false;
    }

    /// <summary>Throws when <paramref name="path"/>'s extension names a pickle format.</summary>
    public static void ThrowIfPickleExtension(string path)
    {
        if (HasPickleExtension(path))
            throw new WeightFileException(path, null, Advice);
    }

    /// <summary>
    /// Throws when the first bytes of a file look like a pickle stream (<c>0x80</c> then protocol 2..5) or a zip
    /// archive (<c>PK\x03\x04</c>, torch's format since 1.6). Only called when the bytes are not a valid
    /// safetensors start (a safetensors header length could begin with the same bytes).
    /// </summary>
    public static void ThrowIfPickleMagic(string path, ReadOnlySpan<byte> start)
    {
        bool pickle = start.Length >= 2 && start[0] == 0x80 && start[1] >= 2 && start[1] <= 5;
        bool zip = start.Length >= 4 && start[0] == (byte)'P' && start[1] == (byte)'K' && start[2] == 3 && start[3] == 4;
        if (pickle || zip)
            throw new WeightFileException(path, null, Advice);
    }
}
