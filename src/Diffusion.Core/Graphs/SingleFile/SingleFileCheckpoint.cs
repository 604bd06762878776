using Diffusion.Core.Graphs.Architectures;

namespace Diffusion.Core.Graphs.SingleFile;

/// <summary>
/// A single-file checkpoint in the original LDM / SGM layout (what model sites and the web UIs use): its family
/// detected from the keys, and a graph built per component over views of the file, each parameter found under its LDM
/// name. Component configs come from a diffusers-layout config folder where it has them, else from the file's shapes
/// (text encoders) or the family's published configs (UNet, VAE).
/// </summary>
internal sealed class SingleFileCheckpoint : IDisposable
{
    private readonly SafeTensorsWeightSource _file;

    private SingleFileCheckpoint(string path, SafeTensorsWeightSource file, SingleFileLayout layout)
    {
        Path = path;
        _file = file;
        Layout = layout;
    }

    public string Path { get; }

    public SingleFileLayout Layout { get; }

    /// <summary>The file's <c>__metadata__</c> prediction type (<c>modelspec.prediction_type</c>), when it states one.</summary>
    public string? MetadataPredictionType { get; private init; }

    /// <exception cref="WeightFileException">The file is a pickle, malformed or truncated, or of no known layout.</exception>
    public static SingleFileCheckpoint Open(string path)
    {
        Weights.PickleCheckpointGuard.ThrowIfPickleExtension(path);
        var file = new SafeTensorsWeightSource([path]);
        try
        {
            return new SingleFileCheckpoint(path, file, SingleFileLayout.Detect(file)) { MetadataPredictionType = ReadPredictionType(path, file.Metadata) };
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Input channels of the UNet's <c>conv_in</c> (4, or 9 for inpainting).</summary>
    public int UNetInChannels => (int)(_file.Find(Layout.UNetPrefix + "input_blocks.0.0.weight", [])?.Shape is { Length: 4 } shape ? shape[1] : 4);

    public bool HasVae => SingleFileLayout.HasVae(_file, Layout.VaePrefix);

    public BuiltModel BuildUNet(UNetConfig config, bool fusedAttention = true)
    {
        var names = new LdmUNetNames(config);
        string prefix = Layout.UNetPrefix;
        var view = new MappedWeightSource(_file, "unet", name => names.ToLdm(name) is string ldm ? new CheckpointTensor(prefix + ldm) : null);
        return UNet2DConditionGraph.Build(config, view, fusedAttention);
    }

    public (BuiltModel Decoder, BuiltModel Encoder) BuildVae(AutoencoderKlConfig config) => BuildVae(_file, Layout.VaePrefix, config);

    /// <summary>The VAE of a file holding only a VAE (or a whole checkpoint) in the LDM layout under <paramref name="prefix"/>.</summary>
    public static (BuiltModel Decoder, BuiltModel Encoder) BuildVae(SafeTensorsWeightSource file, string prefix, AutoencoderKlConfig config)
    {
        var names = new LdmVaeNames(config);
        var view = new MappedWeightSource(file, "vae", name => new CheckpointTensor(prefix + names.ToLdm(name)));
        return (AutoencoderKlGraph.BuildDecoder(config, view), AutoencoderKlGraph.BuildEncoder(config, view));
    }

    /// <summary>The text encoder at <paramref name="index"/> in conditioning order; its config from the file's shapes unless given.</summary>
    public BuiltModel BuildTextEncoder(int index, ClipTextConfig? config)
        => ClipTextModelGraph.Build(config ?? TextEncoderConfig(index), TextEncoderView(index),
            index == 0 && Layout.Kind != SingleFileKind.StableDiffusionXLRefiner ? "text_encoder" : "text_encoder_2");

    /// <summary>The config the text encoder at <paramref name="index"/> has by its tensors' shapes.</summary>
    public ClipTextConfig TextEncoderConfig(int index)
    {
        bool openClip = Layout.TextEncoders[index].OpenClip;
        // SD 2.x conditions on OpenCLIP ViT-H's penultimate layer: diffusers' conversion keeps 23 of its 24 layers.
        return ClipTextConfig.FromWeights(TextEncoderView(index), openClip ? "gelu" : "quick_gelu", dropLastLayer: Layout.Kind == SingleFileKind.StableDiffusion2);
    }

    private MappedWeightSource TextEncoderView(int index)
    {
        (string prefix, bool openClip) = Layout.TextEncoders[index];
        return new MappedWeightSource(_file, openClip ? "OpenCLIP text encoder" : "CLIP text encoder",
            openClip ? LdmClipNames.OpenClip(prefix) : LdmClipNames.OpenAi(prefix));
    }

    private static string? ReadPredictionType(string path, IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue("modelspec.prediction_type", out string? value))
            return null;
        return value switch
        {
            "epsilon" => "epsilon",
            "v" or "v_prediction" => "v_prediction",
            _ => throw new WeightFileException(path, null, $"__metadata__ modelspec.prediction_type is '{value}'; expected epsilon or v."),
        };
    }

    /// <summary>
    /// What was found: the family, the stored type, how many tensors the built graphs use, and the key prefixes of
    /// those they do not (an EMA copy, <c>position_ids</c> buffers, SD 2.x's unused last text layer…).
    /// </summary>
    public string Report()
    {
        string[] unused = _file.Unused.ToArray();
        int total = _file.Names.Count();
        string left = unused.Length == 0 ? "none" : string.Join(", ", unused
            .GroupBy(n => string.Join('.', n.Split('.').Take(3))).OrderByDescending(g => g.Count()).Take(5).Select(g => $"{g.Key}.* ({g.Count()})"));
        return $"{Layout.Kind}, {_file.MainDType}, UNet conv_in {UNetInChannels} channels, VAE {(HasVae ? "embedded" : "absent")}; "
            + $"{total - unused.Length} of {total} tensors used; unused: {left}";
    }

    public void Dispose() => _file.Dispose();
}
