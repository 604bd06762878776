using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Diffusion.Core.Execution;
using Diffusion.Core.Graphs;
using Diffusion.Core.Graphs.Architectures;
using Diffusion.Core.Graphs.Proto;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Benchmarks;

/// <summary>
/// The <c>transformer</c> verb: <c>make --out DIR</c> writes a real-size SD3-medium transformer with random float16 weights
/// as a diffusers folder (config.json + diffusion_pytorch_model.safetensors, 4.1 GB; the tensor list comes from the graph
/// builder itself, so no Python is needed; never commit it); <c>run --folder DIR [--quantization none|int8|int4] [--quantize-activations] [--size 256]
/// [--runs 2] [--text 154] [--threads 2]</c> builds and loads it (one configuration per process) and times batch-1 runs.
/// </summary>
public static class TransformerHarness
{
    private const string ConfigJson = """
        {"_class_name": "SD3Transformer2DModel", "sample_size": 128, "patch_size": 2, "in_channels": 16, "num_layers": 24,
         "attention_head_dim": 64, "num_attention_heads": 24, "joint_attention_dim": 4096, "caption_projection_dim": 1536,
         "pooled_projection_dim": 2048, "out_channels": 16, "pos_embed_max_size": 192, "dual_attention_layers": [], "qk_norm": null}
        """;

    public static int Run(ReadOnlySpan<string> args)
    {
        string mode = args.Length > 0 ? args[0] : "";
        string? folder = null;
        var quantization = WeightQuantization.None;
        int size = 256, runs = 2, text = 154, threads = 2;
        bool activations = false;
        for (int i = 1; i < args.Length; i += 2)
        {
            if (args[i] == "--quantize-activations")
            {
                activations = true;
                i--;
                continue;
            }
            string value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--out" or "--folder": folder = value; break;
                case "--quantization": quantization = Enum.Parse<WeightQuantization>(value, ignoreCase: true); break;
                case "--size": size = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--runs": runs = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--text": text = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--threads": threads = int.Parse(value, CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }
        if (folder is null || mode is not ("make" or "run"))
            throw new ArgumentException("transformer make --out DIR | transformer run --folder DIR [--quantization …] [--size 256] [--runs 2]");
        Console.WriteLine(MachineDescription.Describe());
        if (mode == "make")
            Make(folder);
        else
            Time(folder, new SessionSettings { IntraOpThreads = threads, Quantization = quantization, QuantizeActivations = activations }, size, runs, text);
        return 0;
    }

    private static void Make(string folder)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), ConfigJson);
        BuiltModel shapes = Sd3TransformerGraph.Build(Sd3TransformerConfig.Sd3Medium, new ShapeOnlyWeightSource());
        var tensors = ModelProto.Parser.ParseFrom(shapes.Graph).Graph.Initializer
            .Where(t => t.DataLocation == TensorProto.Types.DataLocation.External)
            .Select(t => (t.Name, Dims: t.Dims.ToArray())).OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        var header = new Dictionary<string, object>();
        long offset = 0;
        foreach ((string name, long[] dims) in tensors)
        {
            long bytes = dims.Aggregate(1L, (a, b) => a * b) * 2;
            header[name] = new { dtype = "F16", shape = dims, data_offsets = new[] { offset, offset + bytes } };
            offset += bytes;
        }
        byte[] json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        string path = Path.Combine(folder, "diffusion_pytorch_model.safetensors");
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)json.Length);
        file.Write(length);
        file.Write(json);
        var random = new Random(1234);
        var buffer = new Half[1 << 20];
        foreach ((string name, long[] dims) in tensors)
        {
            long count = dims.Aggregate(1L, (a, b) => a * b);
            bool matrix = dims.Length >= 2, norm = name.Contains("norm", StringComparison.Ordinal) && name.EndsWith("weight", StringComparison.Ordinal);
            for (long written = 0; written < count; written += buffer.Length)
            {
                int n = (int)Math.Min(buffer.Length, count - written);
                for (int i = 0; i < n; i++)
                    buffer[i] = matrix ? (Half)((random.NextSingle() - 0.5f) * 0.07f) : norm ? Half.One : Half.Zero; // uniform, σ ≈ 0.02
                file.Write(MemoryMarshal.AsBytes(buffer.AsSpan(0, n)));
            }
        }
        Console.WriteLine($"wrote {path}: {tensors.Count} tensors, {shapes.ParameterCount:N0} parameters, {file.Length / 1e9:F2} GB");
    }

    private static void Time(string folder, SessionSettings settings, int size, int runs, int text)
    {
        long start = Stopwatch.GetTimestamp();
        BuiltModel built = CheckpointTransformer.Build(folder);
        using InferenceSession session = SessionFactory.Create(built.ToSource(), settings);
        Console.WriteLine($"SD3-medium transformer, quantization {settings.Quantization}{(settings.QuantizeActivations ? ", int8 compute" : "")}: built and loaded in {Stopwatch.GetElapsedTime(start).TotalSeconds:F1} s, " +
            $"RSS {ProcessMemory.ResidentMiB():F0} MiB, peak {ProcessMemory.PeakResidentMiB():F0} MiB");
        int latent = size / 8;
        var random = new Random(1);
        float[] Noise(int count) => Enumerable.Range(0, count).Select(_ => random.NextSingle() - 0.5f).ToArray();
        float[] hidden = Noise(16 * latent * latent), context = Noise(text * 4096), pooled = Noise(2048);
        var times = new List<double>();
        for (int i = 0; i < runs; i++)
        {
            using var h = OrtValue.CreateTensorValueFromMemory(hidden, [1, 16, latent, latent]);
            using var c = OrtValue.CreateTensorValueFromMemory(context, [1, text, 4096]);
            using var p = OrtValue.CreateTensorValueFromMemory(pooled, [1, 2048]);
            using var t = OrtValue.CreateTensorValueFromMemory(new[] { 500f }, [1]);
            long runStart = Stopwatch.GetTimestamp();
            using var output = session.Run(new RunOptions(), ["hidden_states", "encoder_hidden_states", "pooled_projections", "timestep"], [h, c, p, t], ["out_hidden_states"]);
            times.Add(Stopwatch.GetElapsedTime(runStart).TotalSeconds);
            Console.WriteLine($"run {i + 1}: {times[^1]:F2} s, peak RSS {ProcessMemory.PeakResidentMiB():F0} MiB");
        }
        Console.WriteLine($"{size}² ({latent * latent / 4} image + {text} text tokens), batch 1: runs {string.Join(" ", times.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))} s; peak RSS {ProcessMemory.PeakResidentMiB():F0} MiB");
    }
}
