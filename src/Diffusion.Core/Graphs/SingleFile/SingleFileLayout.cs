namespace Diffusion.Core.Graphs.SingleFile;

/// <summary>The model families a single-file (original LDM / SGM layout) checkpoint can hold, told apart by its keys.</summary>
internal enum SingleFileKind
{
    /// <summary>SD 1.x: OpenAI CLIP ViT-L under <c>cond_stage_model.transformer.</c>.</summary>
    StableDiffusion1,

    /// <summary>SD 2.x: OpenCLIP ViT-H under <c>cond_stage_model.model.</c>.</summary>
    StableDiffusion2,

    /// <summary>SDXL base: <c>conditioner.embedders.0.transformer.</c> (CLIP ViT-L) and <c>.1.model.</c> (OpenCLIP bigG).</summary>
    StableDiffusionXL,

    /// <summary>SDXL refiner: only OpenCLIP bigG, under <c>conditioner.embedders.0.model.</c>.</summary>
    StableDiffusionXLRefiner,
}

/// <summary>
/// What a single-file checkpoint's keys say: the family (from where its text encoders sit) and the key prefixes of its
/// components. Detection reads names only; shapes are checked when the graphs are built.
/// </summary>
internal sealed record SingleFileLayout(SingleFileKind Kind, string UNetPrefix, string VaePrefix, IReadOnlyList<(string Prefix, bool OpenClip)> TextEncoders)
{
    public const string UNet = "model.diffusion_model.";
    public const string Vae = "first_stage_model.";

    /// <summary>Tells the family from the keys.</summary>
    /// <exception cref="WeightFileException">No UNet, VAE or text encoder of a known layout is there; the message lists what was found.</exception>
    public static SingleFileLayout Detect(SafeTensorsWeightSource file)
    {
        var names = file.Names.ToHashSet(StringComparer.Ordinal);
        bool Has(string name) => names.Contains(name);
        SingleFileLayout? layout =
            Has("conditioner.embedders.1.model.ln_final.weight") && Has("conditioner.embedders.0.transformer.text_model.final_layer_norm.weight")
                ? new(SingleFileKind.StableDiffusionXL, UNet, Vae, [("conditioner.embedders.0.transformer.", false), ("conditioner.embedders.1.model.", true)])
            : Has("conditioner.embedders.0.model.ln_final.weight")
                ? new(SingleFileKind.StableDiffusionXLRefiner, UNet, Vae, [("conditioner.embedders.0.model.", true)])
            : Has("cond_stage_model.model.ln_final.weight")
                ? new(SingleFileKind.StableDiffusion2, UNet, Vae, [("cond_stage_model.model.", true)])
            : Has("cond_stage_model.transformer.text_model.final_layer_norm.weight")
                ? new(SingleFileKind.StableDiffusion1, UNet, Vae, [("cond_stage_model.transformer.", false)])
            : null;
        string found = Describe(names);
        if (layout is null && (BflFluxCheckpoint.IsBflFlux(file) || SaiSd3Checkpoint.IsSaiSd3(file)))
        {
            throw new WeightFileException(file.Description, null,
                $"holds a {(BflFluxCheckpoint.IsBflFlux(file) ? "FLUX.1" : "SD3")} transformer, not a UNet checkpoint: load it with FlowMatchingPipeline.Load(file, new PipelineSettings {{ ConfigDirectory = <a diffusers folder of the same model> }}).");
        }
        if (layout is null)
        {
            throw new WeightFileException(file.Description, null,
                "no text encoder of a known single-file layout (cond_stage_model.transformer.* for SD 1.x, cond_stage_model.model.* for SD 2.x, " +
                $"conditioner.embedders.* for SDXL); the file holds {found}. Not a Stable Diffusion 1.x/2.x/XL checkpoint.");
        }
        if (!Has(UNet + "input_blocks.0.0.weight"))
            throw new WeightFileException(file.Description, UNet + "input_blocks.0.0.weight", $"missing: a {layout.Kind} checkpoint has its UNet under {UNet}; the file holds {found}.");
        return layout;
    }

    /// <summary>Whether the file embeds a VAE (pruned checkpoints may leave it out).</summary>
    public static bool HasVae(SafeTensorsWeightSource file, string prefix) => file.Contains(prefix + "decoder.conv_in.weight");

    /// <summary>Key counts per top-level prefix (<c>model.diffusion_model: 686</c>…), for messages.</summary>
    private static string Describe(IEnumerable<string> names)
    {
        var groups = names.GroupBy(n => string.Join('.', n.Split('.').Take(2))).OrderByDescending(g => g.Count()).Take(6)
            .Select(g => $"{g.Key}.* ({g.Count()})");
        string text = string.Join(", ", groups);
        return text.Length == 0 ? "no tensors" : text;
    }
}
