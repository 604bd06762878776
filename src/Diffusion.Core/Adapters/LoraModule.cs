namespace Diffusion.Core.Adapters;

/// <summary>One LoRA module of a file: the keys of its factors and their shapes, already checked against each other.</summary>
internal sealed class LoraModule
{
    public LoraModule(LoraTarget target, string moduleName, bool dotted, string displayKey, string downKey, string upKey, string? alphaKey,
        int rank, long outFeatures, long inputColumns, bool checkpointNames = false)
    {
        CheckpointNames = checkpointNames;
        Target = target;
        ModuleName = moduleName;
        Dotted = dotted;
        DisplayKey = displayKey;
        DownKey = downKey;
        UpKey = upKey;
        AlphaKey = alphaKey;
        Rank = rank;
        OutFeatures = outFeatures;
        InputColumns = inputColumns;
    }

    public LoraTarget Target { get; }

    /// <summary>The module path without the component prefix: dotted (<c>down_blocks.0.attentions.0.proj_in</c>)
    /// for diffusers keys, underscored (<c>down_blocks_0_attentions_0_proj_in</c>) for kohya keys.</summary>
    public string ModuleName { get; }

    /// <summary>True for diffusers/PEFT (dotted) names, false for kohya (underscored) names.</summary>
    public bool Dotted { get; }

    /// <summary>True when the module is named as in the model's original checkpoint (Black Forest Labs' FLUX.1 layers, some
    /// of which fuse several diffusers layers: <see cref="CheckpointLoraModules"/>), false for diffusers' layer names.</summary>
    public bool CheckpointNames { get; }

    /// <summary>The module as the file names it, prefix included (for reports).</summary>
    public string DisplayKey { get; }

    /// <summary>Key of the down (A) factor, [rank, in] or [rank, in, kh, kw].</summary>
    public string DownKey { get; }

    /// <summary>Key of the up (B) factor, [out, rank] or [out, rank, 1, 1].</summary>
    public string UpKey { get; }

    /// <summary>Key of the scalar alpha, or null (then alpha = rank, scale 1).</summary>
    public string? AlphaKey { get; }

    public int Rank { get; }

    /// <summary>Rows of the up factor (the layer's output features/channels).</summary>
    public long OutFeatures { get; }

    /// <summary>Columns of the down factor flattened (in × kh × kw).</summary>
    public long InputColumns { get; }
}
