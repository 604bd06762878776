using System.Text;
using Diffusion.Core;
using Diffusion.Core.Adapters;
using Diffusion.Core.Models;
using Diffusion.Core.Schedulers;
using Diffusion.Core.Tokenization;
using Diffusion.Core.Weights;
using Diffusion.Imaging.Skia;

namespace Diffusion.Fuzzing;

/// <summary>The fuzz targets, by name. File-based readers get the input through a scratch file in a RAM-backed folder.</summary>
internal static class FuzzTargets
{
    private static readonly Lazy<ClipTokenizer> s_tokenizer = new(() => ClipTokenizer.FromDirectory(SharedFolder("models/clip-tokenizer")));
    private static readonly string s_scratch = CreateScratchFolder();

    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new("safetensors", "SafeTensorsFile: header, dtypes, shapes, offsets; every tensor read as float32",
            [typeof(WeightFileException)], SafeTensors),
        new("onnx-weights", "OnnxWeightReader: the ONNX protobuf's graph, initializers and external-data references",
            [typeof(ModelLoadException), typeof(WeightFileException), typeof(ModelContractException)], OnnxWeights),
        new("lora", "LoraAdapter.Load: a LoRA .safetensors (kohya, diffusers and PEFT key layouts)",
            [typeof(WeightFileException), typeof(LoraMismatchException)], Lora),
        new("prompt", "PromptParser.Parse: A1111 prompt syntax (weights, brackets, BREAK, escapes)",
            [typeof(InvalidOptionException)], bytes => PromptParser.Parse(Text(bytes))),
        new("tokenizer", "ClipTokenizer: ftfy cleanup, CLIP's pre-tokenizer and BPE over CLIP's real vocabulary",
            [], bytes => s_tokenizer.Value.Encode(Text(bytes))),
        new("scheduler-config", "scheduler_config.json: JSON reader and validation, then the scheduler it names at 1..50 steps (flow matching with mu)",
            [typeof(ModelLoadException), typeof(InvalidOptionException)], SchedulerConfigJson),
        new("sentencepiece", "SentencePieceModel: a spiece.model's protobuf, pieces, normalizer charsmap trie; then a few prompts encoded",
            [typeof(ModelLoadException)], SentencePiece),
        new("model-index", "model_index.json, unet/config.json and vae/config.json of a model folder",
            [typeof(ModelLoadException), typeof(InvalidOptionException)], ModelIndex),
        new("single-file", "a single-file checkpoint: layout detection, the text encoders' configs from shapes and their graphs, the report",
            [typeof(WeightFileException), typeof(ModelLoadException)], SingleFile),
        new("graph-config", "unet/, vae/ and text_encoder/ config.json for the graph builder (split at 0x00 bytes)",
            [typeof(ModelLoadException)], GraphConfigs),
        new("image", "SkiaImageCodec.Decode: PNG, JPEG, WebP, BMP, GIF, ICO (native decoders; no coverage guidance there)",
            [typeof(ImageFormatException)], bytes => SkiaImageCodec.Decode(bytes)),
        new("png-settings", "PngTextChunk.Read of a PNG's 'parameters' (tEXt/zTXt/iTXt), then GenerationParameters.Parse and its typed values",
            [typeof(ImageFormatException), typeof(InvalidOptionException)], PngSettings),
        new("model-source", "Diffusion.Hub's ModelSource.Parse: hf:owner/name@revision:subfolder, civitai:ID, https URLs",
            [typeof(ArgumentException)], bytes => Hub.ModelSource.Parse(Text(bytes))),
        new("server-request", "a request body of the server's APIs (first byte: A1111 img2img, txt2img or the native job), read as ASP.NET reads it, then the job it makes and its checks",
            [typeof(System.Text.Json.JsonException), typeof(InvalidOptionException)], ServerRequest),
    ];

    private static readonly System.Text.Json.JsonSerializerOptions s_web = new(System.Text.Json.JsonSerializerDefaults.Web);
    // Lazy: instrumented code must not run before the fork server is up (it writes to AFL's shared memory).
    private static readonly Lazy<Server.ServerOptions> s_limits = new(() => new());

    // What a request body becomes before it is queued: a job request, or a 4xx naming the field.
    private static void ServerRequest(byte[] bytes)
    {
        if (bytes.Length == 0)
            return;
        ReadOnlySpan<byte> json = bytes.AsSpan(1);
        Server.Jobs.GenerationRequest? request;
        if (bytes[0] % 3 == 2)
        {
            if (System.Text.Json.JsonSerializer.Deserialize<Server.Api.NativeJobsApi.JobRequest>(json, s_web) is not { } job)
                return;
            request = Server.Api.NativeJobsApi.ToRequest(job);
        }
        else
        {
            bool imageToImage = bytes[0] % 3 == 0;
            if (System.Text.Json.JsonSerializer.Deserialize<Server.Api.A1111Api.A1111Request>(json, s_web) is not { } body)
                return;
            if (Server.Api.A1111Api.InpaintingRefusal(body, imageToImage) is not null)
                return;
            request = Server.Api.A1111Api.ToRequest(body, imageToImage);
        }
        if (request is null)
            return;
        request.Validate(s_limits.Value);
        if (request.Sampler is { } sampler)
            _ = SchedulerCatalog.Accepts(sampler, flowMatchingModel: bytes[0] % 2 == 0);
    }

    // The settings an image carries, read the way `diffusion generate --from` reads them.
    private static void PngSettings(byte[] bytes)
    {
        if (PngTextChunk.Read(bytes, "parameters") is not { } text)
            return;
        var settings = Core.Metadata.GenerationParameters.Parse(text);
        _ = settings.GetInteger("Steps");
        _ = settings.GetUnsigned("Seed");
        _ = settings.GetNumber("CFG scale");
        _ = settings.Size;
        _ = Core.Metadata.GenerationParameters.Parse(settings.Format());
    }

    public static FuzzTarget? Find(string name) => All.FirstOrDefault(t => t.Name == name);

    private static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);

    // A RAM-backed folder where there is one (each input is written to a file), one per process.
    private static string CreateScratchFolder()
    {
        string parent = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        return Directory.CreateDirectory(Path.Combine(parent, $"diffusion-fuzz-{Environment.ProcessId}")).FullName;
    }

    private static string WriteScratch(string name, byte[] bytes)
    {
        string path = Path.Combine(s_scratch, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static void SafeTensors(byte[] bytes)
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(WriteScratch("input.safetensors", bytes));
        foreach (SafeTensorInfo tensor in file.Tensors)
        {
            if (tensor.ElementCount <= 1 << 20)
                file.ReadAsFloat32(tensor.Name);
        }
    }

    private static void OnnxWeights(byte[] bytes) => OnnxWeightReader.Read(WriteScratch("model.onnx", bytes));

    private static void Lora(byte[] bytes) => LoraAdapter.Load(WriteScratch("lora.safetensors", bytes));

    private static void SchedulerConfigJson(byte[] bytes)
    {
        SchedulerConfig config = SchedulerConfig.FromJson(Text(bytes), "scheduler_config.json");
        IScheduler scheduler = SchedulerCatalog.CreateFromConfig(config);
        int steps = 1 + (bytes.Length % 50);
        if (scheduler is FlowMatchEulerDiscreteScheduler { Config.UseDynamicShifting: true } flow)
        {
            // As FLUX.1's pipeline calls it: its default custom sigmas and mu from an image sequence length.
            int imageSequenceLength = 1 + (bytes.Length * 37 % 8192);
            flow.SetTimesteps(steps, FlowMatchSigmas.FluxDefaultSigmas(steps), FlowMatchSigmas.CalculateShift(imageSequenceLength, config));
            return;
        }
        scheduler.SetTimesteps(Math.Min(steps, config.NumTrainTimesteps));
    }

    private static readonly string[] s_sentencePiecePrompts = ["a photo of a cat", "  Ｃafé\t猫 🐱 </s>\u0007 ", "x"];

    private static void SentencePiece(byte[] bytes)
    {
        SentencePieceModel model = SentencePieceModel.FromBytes(bytes, "spiece.model");
        foreach (string prompt in s_sentencePiecePrompts)
            model.Encode(prompt);
    }

    private static void ModelIndex(byte[] bytes)
    {
        // One input, three files: model_index.json, unet/config.json, vae_decoder/config.json (split at 0x00 bytes).
        string folder = Path.Combine(s_scratch, "model");
        if (Directory.Exists(folder))
            Directory.Delete(folder, recursive: true);
        Directory.CreateDirectory(Path.Combine(folder, "unet"));
        Directory.CreateDirectory(Path.Combine(folder, "vae_decoder"));
        string[] parts = Text(bytes).Split('\0');
        File.WriteAllText(Path.Combine(folder, "model_index.json"), parts[0]);
        if (parts.Length > 1)
            File.WriteAllText(Path.Combine(folder, "unet", "config.json"), parts[1]);
        if (parts.Length > 2)
            File.WriteAllText(Path.Combine(folder, "vae_decoder", "config.json"), parts[2]);
        StableDiffusionModelFolder.Open(folder);
    }

    private static void SingleFile(byte[] bytes)
    {
        using var checkpoint = Diffusion.Core.Graphs.SingleFile.SingleFileCheckpoint.Open(WriteScratch("checkpoint.safetensors", bytes));
        for (int i = 0; i < checkpoint.Layout.TextEncoders.Count; i++)
            checkpoint.BuildTextEncoder(i, null);
        _ = checkpoint.Report();
    }

    private static void GraphConfigs(byte[] bytes)
    {
        string[] parts = Text(bytes).Split('\0');
        string folder = Directory.CreateDirectory(Path.Combine(s_scratch, "configs")).FullName;
        string Write(string name, string text)
        {
            string path = Path.Combine(folder, name);
            File.WriteAllText(path, text);
            return path;
        }
        Diffusion.Core.Graphs.Architectures.UNetConfig.FromJson(Write("unet.json", parts[0]));
        if (parts.Length > 1)
            Diffusion.Core.Graphs.Architectures.AutoencoderKlConfig.FromJson(Write("vae.json", parts[1]));
        if (parts.Length > 2)
            Diffusion.Core.Graphs.Architectures.ClipTextConfig.FromJson(Write("text.json", parts[2]), withProjection: parts[2].Contains("projection_dim", StringComparison.Ordinal));
    }

    /// <summary>A path under ../shared beside the repository (DIFFUSION_SHARED overrides).</summary>
    private static string SharedFolder(string relative)
    {
        string? root = Environment.GetEnvironmentVariable("DIFFUSION_SHARED");
        if (string.IsNullOrEmpty(root))
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Diffusion.Core.sln")))
                dir = dir.Parent;
            root = Path.Combine(dir?.Parent?.FullName ?? ".", "shared");
        }
        return Path.Combine(root, relative);
    }
}
