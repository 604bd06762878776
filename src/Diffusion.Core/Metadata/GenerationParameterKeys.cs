namespace Diffusion.Core.Metadata;

/// <summary>The infotext keys A1111 writes (and this library reads back), plus the few this library adds.</summary>
public static class GenerationParameterKeys
{
#pragma warning disable CS1591 // each constant is the key it names
    public const string Steps = "Steps";
    public const string Sampler = "Sampler";
    public const string ScheduleType = "Schedule type";
    public const string CfgScale = "CFG scale";
    public const string Seed = "Seed";
    public const string Size = "Size";
    public const string ModelHash = "Model hash";
    public const string Model = "Model";
    public const string DenoisingStrength = "Denoising strength";
    public const string BatchSize = "Batch size";
    public const string BatchPosition = "Batch pos";
    public const string LoraHashes = "Lora hashes";
    public const string Rng = "RNG";
    public const string MaskBlur = "Mask blur";
    public const string Version = "Version";

    /// <summary>This library's: <c>plain</c> when the prompt was read without A1111's weighting syntax (absent means weighted, as in A1111).</summary>
    public const string PromptSyntax = "Prompt syntax";

    /// <summary>This library's: FLUX's true CFG scale.</summary>
    public const string TrueCfgScale = "True CFG scale";

    /// <summary>This library's: the T5 sequence length of SD3/FLUX.</summary>
    public const string MaxSequenceLength = "Max sequence length";

    /// <summary>This library's: step caching (DeepCache), <c>INTERVAL:POINT</c>.</summary>
    public const string StepCache = "Step cache";
#pragma warning restore CS1591
}
