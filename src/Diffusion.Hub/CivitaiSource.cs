namespace Diffusion.Hub;

/// <summary>A Civitai model version (the <c>modelVersionId</c> of a model page), fetched through Civitai's public REST API.</summary>
/// <param name="ModelVersionId">The version's id.</param>
public sealed record CivitaiSource(long ModelVersionId) : ModelSource
{
    /// <inheritdoc />
    public override string ToString() => $"civitai:{ModelVersionId}";
}
