using Diffusion.Core.Graphs.Architectures;

namespace Diffusion.Core.Graphs;

/// <summary>
/// A diffusion transformer from a diffusers checkpoint folder (<c>transformer/</c>: <c>config.json</c> and
/// <c>diffusion_pytorch_model.safetensors</c>, its fp16 variant or its shards): the class named by the config's
/// <c>_class_name</c> is built over the weights, which stay in the files.
/// </summary>
internal static class CheckpointTransformer
{
    /// <summary>Builds the transformer's graph over the weights in <paramref name="folder"/> (no session).</summary>
    /// <exception cref="ModelLoadException">The folder has no config or weights, or the config is invalid or names another class.</exception>
    /// <exception cref="WeightFileException">A file is malformed or truncated, or a tensor is missing or misshaped (named).</exception>
    public static BuiltModel Build(string folder)
    {
        string config = Path.Combine(folder, "config.json");
        if (!File.Exists(config))
            throw new ModelLoadException(folder, "no config.json: a diffusers transformer folder holds config.json beside its safetensors weights.");
        string className = ClassName(config);
        using var weights = new SafeTensorsWeightSource(CheckpointFiles.Find(folder, "diffusion_pytorch_model"));
        return className switch
        {
            "SD3Transformer2DModel" => Sd3TransformerGraph.Build(Sd3TransformerConfig.FromJson(config), weights),
            "FluxTransformer2DModel" => FluxTransformerGraph.Build(FluxTransformerConfig.FromJson(config), weights),
            _ => throw new ModelLoadException(config, $"_class_name '{className}' is not a transformer this builder knows (SD3Transformer2DModel, FluxTransformer2DModel)."),
        };
    }

    private static string ClassName(string configPath)
    {
        using ConfigFields fields = ConfigFields.Read(configPath);
        return fields.String("_class_name", "(missing)");
    }
}
