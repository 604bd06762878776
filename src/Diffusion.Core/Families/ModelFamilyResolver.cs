namespace Diffusion.Core.Families;

/// <summary>Finds a model's family from its pipeline class name or from the inputs its denoiser declares.</summary>
public static class ModelFamilyResolver
{
    // optimum names its ONNX Runtime pipelines ORT<diffusers class>, diffusers its ONNX ones Onnx<diffusers class>.
    private static readonly string[] s_exporterPrefixes = ["ORT", "Onnx"];

    /// <summary>The family whose diffusers pipeline class <paramref name="className"/> is (exporter prefixes allowed), or null when unknown.</summary>
    public static ModelFamily? FromPipelineClassName(string? className)
    {
        if (string.IsNullOrEmpty(className))
            return null;
        foreach (ModelFamily family in ModelFamily.Known)
        {
            foreach (string known in family.PipelineClassNames)
            {
                if (className == known)
                    return family;
                foreach (string prefix in s_exporterPrefixes)
                {
                    if (className.Length == prefix.Length + known.Length && className.StartsWith(prefix, StringComparison.Ordinal)
                        && className.EndsWith(known, StringComparison.Ordinal))
                        return family;
                }
            }
        }
        return null;
    }

    /// <summary>
    /// The family a diffusers model folder names in its <c>model_index.json</c> (<c>_class_name</c>), or null when the path is
    /// not a folder, has no <c>model_index.json</c>, or names a class this version does not know. Use it to pick the
    /// pipeline: <see cref="ModelFamily.IsFlowMatchingTransformer"/> families load in <c>FlowMatchingPipeline</c>, the
    /// others in <c>StableDiffusionPipeline</c>.
    /// </summary>
    /// <exception cref="ModelLoadException"><c>model_index.json</c> exists but is not valid JSON.</exception>
    public static ModelFamily? FromModelFolder(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string index = Path.Combine(path, "model_index.json");
        return Directory.Exists(path) && File.Exists(index)
            ? FromPipelineClassName(Models.ModelFolderJson.ReadModelIndex(index).PipelineClass)
            : null;
    }

    /// <summary>
    /// The family a denoiser's declared inputs imply: <c>text_embeds</c> and <c>time_ids</c> mean Stable Diffusion XL
    /// (base and refiner declare the same names; the refiner is told apart by its class name), none of them
    /// Stable Diffusion 1.x/2.x.
    /// </summary>
    public static ModelFamily FromDenoiserInputs(IReadOnlyCollection<string> inputNames)
    {
        ArgumentNullException.ThrowIfNull(inputNames);
        return inputNames.Contains("text_embeds") || inputNames.Contains("time_ids")
            ? ModelFamily.StableDiffusionXL
            : ModelFamily.StableDiffusion;
    }
}
