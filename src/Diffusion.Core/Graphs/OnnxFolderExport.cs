using System.Text.Json.Nodes;
using Diffusion.Core.Families;
using Diffusion.Core.Graphs.Proto;
using Diffusion.Core.Models;
using Diffusion.Core.Pipelines;
using Google.Protobuf;

namespace Diffusion.Core.Graphs;

/// <summary>
/// Saves a model the library builds (a single-file checkpoint, a diffusers folder of safetensors) as a diffusers ONNX
/// folder in optimum's layout: <c>model_index.json</c>, <c>scheduler/</c>, the tokenizers, and per component a
/// <c>model.onnx</c> with its weights in <c>model.onnx_data</c> beside it, so other ONNX tools, and this library's folder
/// loader without rebuilding, can use it.
/// </summary>
/// <remarks>
/// The weights are copied as stored (float16 stays float16, behind the graph's Cast), streamed through a small buffer.
/// The folder is written under a temporary name beside the destination and renamed when complete, so a failure leaves
/// nothing half-written; an existing destination is refused.
/// </remarks>
public static class OnnxFolderExport
{
    private const string DataFile = "model.onnx_data";

    /// <summary>Exports the model at <paramref name="modelPath"/> to the new folder <paramref name="outputDirectory"/>.</summary>
    /// <param name="modelPath">A single-file <c>.safetensors</c> checkpoint or a diffusers folder (ONNX, safetensors or mixed).</param>
    /// <param name="outputDirectory">The folder to create; it must not exist.</param>
    /// <param name="settings">What loading needs (a single file's <see cref="PipelineSettings.ConfigDirectory"/>, <see cref="PipelineSettings.VaePath"/>, …); sessions are not created.</param>
    /// <exception cref="InvalidOptionException">The destination exists.</exception>
    /// <exception cref="ModelLoadException">The model cannot be resolved (see <see cref="StableDiffusionPipeline.Load"/>).</exception>
    /// <exception cref="WeightFileException">A weight file is malformed or truncated.</exception>
    public static void Export(string modelPath, string outputDirectory, PipelineSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(modelPath);
        ArgumentNullException.ThrowIfNull(outputDirectory);
        settings ??= new PipelineSettings();
        string target = Path.GetFullPath(outputDirectory);
        if (Directory.Exists(target) || File.Exists(target))
            throw new InvalidOptionException(nameof(outputDirectory), $"'{target}' exists; an export writes a new folder.");
        PipelineComponents components = SingleFileComponents.IsSingleFile(modelPath)
            ? SingleFileComponents.Resolve(modelPath, settings)
            : FolderComponents.Resolve(modelPath, settings);

        string partial = $"{target}.partial-{Guid.NewGuid():N}";
        Directory.CreateDirectory(partial);
        try
        {
            Write(components, settings, partial);
            Directory.Move(partial, target);
        }
        catch
        {
            Directory.Delete(partial, recursive: true);
            throw;
        }
    }

    private static void Write(PipelineComponents components, PipelineSettings settings, string folder)
    {
        ModelFamily family = components.Family;
        bool refiner = family == ModelFamily.StableDiffusionXLRefiner;
        string[] encoderNames = refiner ? ["text_encoder_2"] : family == ModelFamily.StableDiffusionXL ? ["text_encoder", "text_encoder_2"] : ["text_encoder"];
        var ortModel = new JsonArray("optimum", "ORTModel");
        var index = new JsonObject
        {
            ["_class_name"] = "ORT" + family.PipelineClassNames[0],
            ["_diffusers_version"] = "0.36.0",
            ["scheduler"] = new JsonArray("diffusers", components.SchedulerConfig.ClassName ?? "PNDMScheduler"),
        };
        if (family != ModelFamily.StableDiffusion)
        {
            index["force_zeros_for_empty_prompt"] = components.ForceZerosForEmptyPrompt ?? true;
            index["requires_aesthetics_score"] = components.RequiresAestheticsScore ?? refiner;
        }
        for (int i = 0; i < encoderNames.Length; i++)
        {
            string tokenizer = encoderNames[i] == "text_encoder" ? "tokenizer" : "tokenizer_2";
            CopyFolder(components.TextEncoders[i].TokenizerDirectory, Path.Combine(folder, tokenizer));
            WriteModel(components.TextEncoders[i].Encoder, Path.Combine(folder, encoderNames[i]));
            index[tokenizer] = new JsonArray("transformers", "CLIPTokenizer");
            index[encoderNames[i]] = ortModel.DeepClone();
        }
        WriteModel(components.UNet, Path.Combine(folder, "unet"));
        WriteModel(components.VaeDecoder, Path.Combine(folder, "vae_decoder"));
        index["unet"] = ortModel.DeepClone();
        index["vae_decoder"] = ortModel.DeepClone();
        if (components.VaeEncoder is { } encoder)
        {
            WriteModel(encoder, Path.Combine(folder, "vae_encoder"));
            index["vae_encoder"] = ortModel.DeepClone();
        }

        string scheduler = components.ConfigJson["scheduler"];
        if (settings.PredictionType is { } prediction)
        {
            JsonObject node = JsonNode.Parse(scheduler)!.AsObject();
            node["prediction_type"] = prediction;
            scheduler = node.ToJsonString();
        }
        Directory.CreateDirectory(Path.Combine(folder, "scheduler"));
        File.WriteAllText(Path.Combine(folder, "scheduler", "scheduler_config.json"), scheduler);
        if (components.ConfigJson.TryGetValue("unet", out string? unet))
            File.WriteAllText(Path.Combine(folder, "unet", "config.json"), unet);
        if (components.ConfigJson.TryGetValue("vae", out string? vae))
        {
            File.WriteAllText(Path.Combine(folder, "vae_decoder", "config.json"), vae);
            if (components.VaeEncoder is not null)
                File.WriteAllText(Path.Combine(folder, "vae_encoder", "config.json"), vae);
        }
        File.WriteAllText(Path.Combine(folder, "model_index.json"), index.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>An exported model is copied with what lies beside it; a built one gets its weights gathered into one data file.</summary>
    private static void WriteModel(ModelSource source, string folder)
    {
        Directory.CreateDirectory(folder);
        if (source.Graph is not byte[] graph)
        {
            CopyFolder(Path.GetDirectoryName(Path.GetFullPath(source.FilePath!))!, folder);
            return;
        }
        ModelProto model = ModelProto.Parser.ParseFrom(graph);
        var handles = new Dictionary<string, Microsoft.Win32.SafeHandles.SafeFileHandle>(StringComparer.Ordinal);
        byte[] buffer = new byte[1 << 20];
        try
        {
            using var data = new FileStream(Path.Combine(folder, DataFile), FileMode.CreateNew, FileAccess.Write);
            foreach (TensorProto tensor in model.Graph.Initializer)
            {
                if (tensor.DataLocation != TensorProto.Types.DataLocation.External)
                    continue;
                string location = tensor.ExternalData.Single(e => e.Key == "location").Value;
                long offset = long.Parse(tensor.ExternalData.Single(e => e.Key == "offset").Value, System.Globalization.CultureInfo.InvariantCulture);
                long length = long.Parse(tensor.ExternalData.Single(e => e.Key == "length").Value, System.Globalization.CultureInfo.InvariantCulture);
                string path = Path.Combine(source.ExternalDataFolder!, location);
                if (!handles.TryGetValue(path, out var handle))
                    handles[path] = handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
                long start = data.Position;
                for (long done = 0; done < length;)
                {
                    int read = RandomAccess.Read(handle, buffer.AsSpan(0, (int)Math.Min(buffer.Length, length - done)), offset + done);
                    if (read == 0)
                        throw new WeightFileException(path, tensor.Name, "the file ended before the tensor's data (was it truncated after the graph was built?).");
                    data.Write(buffer, 0, read);
                    done += read;
                }
                tensor.ExternalData.Clear();
                tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = DataFile });
                tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = start.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
            }
        }
        finally
        {
            foreach (var handle in handles.Values)
                handle.Dispose();
        }
        File.WriteAllBytes(Path.Combine(folder, "model.onnx"), model.ToByteArray());
    }

    private static void CopyFolder(string source, string target)
    {
        Directory.CreateDirectory(target);
        foreach (string file in Directory.GetFiles(source))
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
    }
}
