using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Execution;

/// <summary>
/// How ONNX Runtime sessions are created for a model: the execution provider, thread pools, graph
/// optimisation and memory options. One instance can be shared by all components, or each component
/// (text encoder, UNet, VAE) can get its own, e.g. the UNet on CUDA and the rest on the CPU.
/// Every property left at its default keeps ONNX Runtime's own default.
/// </summary>
/// <remarks>
/// All checks happen in <see cref="Validate"/>, which <see cref="SessionFactory"/> calls before it creates
/// a session, so a settings object built with <c>with</c> expressions is checked once, where it is used.
/// </remarks>
public sealed record SessionSettings
{
    /// <summary>The settings ONNX Runtime uses when given none, on the CPU provider.</summary>
    public static SessionSettings Default { get; } = new();

    /// <summary>The execution provider. Default: <see cref="ExecutionProvider.Cpu"/>.</summary>
    public ExecutionProvider Provider { get; init; } = ExecutionProvider.Cpu;

    /// <summary>
    /// Threads used inside one operator (<c>SessionOptions.IntraOpNumThreads</c>); <see langword="null"/>
    /// keeps ONNX Runtime's default (one per physical core). Must be between 1 and <see cref="MaxThreads"/> when set.
    /// </summary>
    public int? IntraOpThreads { get; init; }

    /// <summary>
    /// Whether ONNX Runtime's idle intra-op workers spin waiting for work (<c>session.intra_op.allow_spinning</c>);
    /// <see langword="null"/> (the default) keeps ONNX Runtime's default (on), except for the two sessions of a
    /// <see cref="Pipelines.DeepCache"/> pair, which take turns every step and sleep when idle. Measured on 2 cores
    /// (docs/performance.md, "Spinning"): the demo model's 20-step generation ran 1.3–1.4× faster with <see langword="false"/>,
    /// real-size SD 1.5 steps the same. An entry for the same key in <see cref="SessionConfigEntries"/> wins.
    /// </summary>
    public bool? AllowSpinning { get; init; }

    /// <summary>
    /// The most threads a pool may be given: 4 × the logical processors (at least 16). ONNX Runtime creates every
    /// thread up front; tens of thousands hang or crash the process, and more than a few per processor only adds
    /// contention.
    /// </summary>
    public static int MaxThreads => Math.Max(16, 4 * Environment.ProcessorCount);

    /// <summary>
    /// Threads used to run independent operators in parallel (<c>SessionOptions.InterOpNumThreads</c>;
    /// only used in parallel execution mode); <see langword="null"/> keeps ONNX Runtime's default. Must be between 1 and
    /// <see cref="MaxThreads"/> when set.
    /// </summary>
    public int? InterOpThreads { get; init; }

    /// <summary>
    /// Graph optimisation level; <see langword="null"/> (the default) chooses by the model's weight size:
    /// <see cref="GraphOptimizationLevel.ORT_ENABLE_ALL"/> (ONNX Runtime's default) up to <see cref="LargeModelBytes"/>,
    /// <see cref="GraphOptimizationLevel.ORT_ENABLE_EXTENDED"/> above. Level ALL adds CPU layout transforms that take
    /// seconds per gigabyte at load and a second copy of the convolution weights, and bought at most 6–8 % per step on
    /// a real-size SD 1.5 (while tiny models run up to 18 % faster with them); see docs/performance.md.
    /// </summary>
    public GraphOptimizationLevel? GraphOptimizationLevel { get; init; }

    /// <summary>
    /// Weights above this size (in memory, as float32) count as a large model for the automatic choices of
    /// <see cref="GraphOptimizationLevel"/> and <see cref="PrepackWeights"/>: 64 MiB.
    /// </summary>
    public const long LargeModelBytes = 64L << 20;

    /// <summary>
    /// Whether ONNX Runtime's CPU kernels pre-pack weights into a private copy at session creation
    /// (<c>session.disable_prepacking</c> when off). <see langword="null"/> (the default) turns it off for large models
    /// (above <see cref="LargeModelBytes"/>), where it cost seconds of load and bought no measurable step time, and
    /// leaves ONNX Runtime's default (on) for small ones.
    /// </summary>
    public bool? PrepackWeights { get; init; }

    /// <summary>
    /// The level and pre-packing a session gets for a model of <paramref name="weightBytes"/> (null: unknown, treated
    /// as small): the explicit settings, or the automatic choice.
    /// </summary>
    internal (GraphOptimizationLevel Level, bool Prepack) ResolveFor(long? weightBytes)
    {
        bool large = weightBytes > LargeModelBytes;
        // Quantised graphs need a level below ALL (see Quantization) and pre-packing: MatMulNBits' fast kernels run on
        // the packed layout. The integer GEMMs of QuantizeActivations pack as they run, as fast (a real-size UNet step
        // 4.5–4.6 s either way), and pre-packing would hold a second copy of their weights (+850 MiB).
        return (GraphOptimizationLevel ?? (large || QuantizesWeights ? Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED : Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_ENABLE_ALL),
            PrepackWeights ?? (Quantization != WeightQuantization.None && !QuantizeActivations || !large));
    }

    /// <summary>
    /// A folder where the optimised graph of each model is kept after its first load (off when <see langword="null"/>,
    /// the default). Later loads of the same model with the same options on the same machine and ONNX Runtime skip graph
    /// optimisation; without pre-packing they map the weights from the cached file. A changed model file, option,
    /// ONNX Runtime version or CPU gives a new entry; a damaged entry is detected and rebuilt. Not used for sessions
    /// with merged LoRA or textual-inversion weights. The first load writes the float32 weights there (3.4 GB for an
    /// SD 1.5 UNet).
    /// </summary>
    public string? OptimizedModelCache { get; init; }

    /// <summary>Whether the CPU memory arena is used (<c>SessionOptions.EnableCpuMemArena</c>). Default: <see langword="true"/>.</summary>
    public bool EnableMemoryArena { get; init; } = true;

    /// <summary>
    /// Whether ONNX Runtime plans memory from the first run's shapes (<c>SessionOptions.EnableMemoryPattern</c>).
    /// Default: <see langword="true"/>. Always turned off for DirectML, which does not support it.
    /// </summary>
    public bool EnableMemoryPattern { get; init; } = true;

    /// <summary>
    /// Extra session configuration entries passed to <c>SessionOptions.AddSessionConfigEntry</c>
    /// (e.g. <c>session.disable_prepacking</c> = <c>1</c>); <see langword="null"/> for none.
    /// </summary>
    public IReadOnlyDictionary<string, string>? SessionConfigEntries { get; init; }

    /// <summary>
    /// Initializer replacements (merged LoRA weights, an enlarged token embedding) added to the session options; the
    /// pipelines set this and keep the overrides alive as long as the session. Not part of the public settings.
    /// </summary>
    internal IReadOnlyList<Weights.WeightOverrides>? WeightOverrides { get; init; }

    /// <summary>
    /// Whether a built graph's float16/bfloat16 weights are widened to float32 by this library (<see cref="Graphs.WidenedWeights"/>)
    /// rather than by ONNX Runtime's constant folding; the values are the same either way. On unless tests compare the two.
    /// </summary>
    internal bool WidenHalfPrecisionWeights { get; init; } = true;

    /// <summary>
    /// Weight-only quantisation of the linear layers (a <c>Gemm</c> over a weight, or a <c>MatMul</c> over a 2-D weight as
    /// torch exports <c>nn.Linear</c>: attention and feed-forward projections, text encoders' layers, the transformers'
    /// blocks) of models the graph builder makes and of exported ONNX files, done when the session is created: each output
    /// row's blocks of 32 weights become 8- or 4-bit integers with a scale and a zero point, run by ONNX Runtime's
    /// <c>com.microsoft.MatMulNBits</c> with int8 activations (its <c>accuracy_level</c> 4: the fast CPU kernels; at the
    /// float32 level 8-bit weights were dequantised on every run, 9 × slower on a transformer). Convolutions, norms and
    /// embeddings stay float32 (see <see cref="QuantizeConvolutions"/>). CPU provider only, and not at
    /// optimisation level ALL (the automatic level becomes EXTENDED). Default <see cref="WeightQuantization.None"/>.
    /// </summary>
    public WeightQuantization Quantization { get; init; } = WeightQuantization.None;

    /// <summary>
    /// Whether convolution weights are held as int8 per output channel (a <c>DequantizeLinear</c> before each <c>Conv</c>,
    /// run every time the convolution runs): a quarter of their float32 memory — most of a UNet's and a VAE's weights — for
    /// a per-step cost (docs/performance.md). For built graphs and ONNX files; same limits as <see cref="Quantization"/>
    /// (CPU provider, level below ALL). Default <see langword="false"/>.
    /// </summary>
    public bool QuantizeConvolutions { get; init; }

    /// <summary>
    /// Whether the layers <see cref="Quantization"/> (<see cref="WeightQuantization.Int8"/> only) and
    /// <see cref="QuantizeConvolutions"/> make int8 also compute in int8: their activations are quantised at run time to
    /// uint8 per tensor and multiplied by int8 weights per output channel in ONNX Runtime's integer GEMM
    /// (<c>DynamicQuantizeMatMul</c>; convolutions as an im2col and <c>MatMulIntegerToFloat</c>). Measured on a CPU
    /// with AVX-512 VNNI: a real-size UNet step in about half its float32 time, a transformer's in a third, for a larger
    /// image difference than int8 weights alone (docs/performance.md). Same limits as <see cref="Quantization"/>. Default <see langword="false"/>.
    /// </summary>
    public bool QuantizeActivations { get; init; }

    /// <summary>
    /// MatMulNBits' <c>accuracy_level</c> for <see cref="Quantization"/>: <see cref="Graphs.LinearWeightQuantizer.Int8Compute"/>
    /// unless tests ask for 0 (float32 compute, exact against the dequantised weights).
    /// </summary>
    internal int QuantizedAccuracyLevel { get; init; } = Graphs.LinearWeightQuantizer.Int8Compute;

    /// <summary>Whether any weight is quantised at load (<see cref="Quantization"/> or <see cref="QuantizeConvolutions"/>).</summary>
    internal bool QuantizesWeights => Quantization != WeightQuantization.None || QuantizeConvolutions;

    /// <summary>Checks every value; the single place where session settings are validated.</summary>
    /// <exception cref="InvalidOptionException">A value is out of range; the message names the property.</exception>
    public void Validate()
    {
        if (Provider is null)
            throw new InvalidOptionException("SessionSettings.Provider", "must not be null.");
        int maxThreads = MaxThreads;
        if (IntraOpThreads is < 1 || IntraOpThreads > maxThreads)
            throw new InvalidOptionException("SessionSettings.IntraOpThreads", $"must be between 1 and {maxThreads} (4 × the {Environment.ProcessorCount} logical processors, at least 16), or null for ONNX Runtime's default; was {IntraOpThreads}.");
        if (InterOpThreads is < 1 || InterOpThreads > maxThreads)
            throw new InvalidOptionException("SessionSettings.InterOpThreads", $"must be between 1 and {maxThreads} (4 × the {Environment.ProcessorCount} logical processors, at least 16), or null for ONNX Runtime's default; was {InterOpThreads}.");
        if (GraphOptimizationLevel is { } level && !Enum.IsDefined(level))
            throw new InvalidOptionException("SessionSettings.GraphOptimizationLevel", $"unknown level {(int)level}.");
        if (!Enum.IsDefined(Quantization))
            throw new InvalidOptionException("SessionSettings.Quantization", $"unknown value {(int)Quantization}.");
        string quantizing = Quantization != WeightQuantization.None ? "SessionSettings.Quantization" : "SessionSettings.QuantizeConvolutions";
        if (QuantizeActivations && Quantization == WeightQuantization.Int4)
            throw new InvalidOptionException("SessionSettings.QuantizeActivations", "computes with int8 weights; it cannot be combined with Quantization Int4.");
        if (QuantizeActivations && !QuantizesWeights)
            throw new InvalidOptionException("SessionSettings.QuantizeActivations", "applies to the layers made int8 by Quantization = Int8 or QuantizeConvolutions; neither is set.");
        if (QuantizesWeights && Provider.Kind != ExecutionProviderKind.Cpu)
            throw new InvalidOptionException(quantizing, $"is applied on the CPU provider in this version, not on {Provider.Kind}.");
        if (QuantizesWeights && GraphOptimizationLevel == Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_ENABLE_ALL)
            throw new InvalidOptionException(quantizing, "needs an optimisation level below ALL (ALL re-lays out convolution weights from the file, which quantised graphs no longer hold); leave GraphOptimizationLevel automatic or set EXTENDED.");
        if (SessionConfigEntries is not null)
        {
            foreach (KeyValuePair<string, string> entry in SessionConfigEntries)
            {
                if (string.IsNullOrWhiteSpace(entry.Key))
                    throw new InvalidOptionException("SessionSettings.SessionConfigEntries", "has an empty key.");
                if (entry.Value is null)
                    throw new InvalidOptionException("SessionSettings.SessionConfigEntries", $"entry '{entry.Key}' has a null value.");
                if (entry.Key == "session.disable_prepacking")
                    throw new InvalidOptionException("SessionSettings.SessionConfigEntries", "set pre-packing with SessionSettings.PrepackWeights, not the session.disable_prepacking entry.");
            }
        }
    }
}
