using System.Text.Json;
using Diffusion.Core.Families;
using Diffusion.Core.Graphs;
using Diffusion.Core.Graphs.SingleFile;
using Diffusion.Core.Models;
using Diffusion.Core.Weights;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Inspection;

/// <summary>
/// Reads what a model folder or a <c>.safetensors</c> file holds without building or running anything: family, components,
/// sizes, parameter counts and dtypes from safetensors headers, a checkpoint's layout, a LoRA's targets, and on request
/// the inputs and outputs of ONNX files (that creates an ONNX Runtime session per file, without graph optimisation).
/// </summary>
public static class ModelInspector
{
    /// <summary>Inspects <paramref name="path"/>.</summary>
    /// <param name="path">A diffusers folder or a <c>.safetensors</c> file.</param>
    /// <param name="readOnnxInputs">Read the inputs and outputs of ONNX files (slow for large models).</param>
    /// <exception cref="ModelLoadException">The path is neither a folder nor a safetensors file.</exception>
    /// <exception cref="WeightFileException">A safetensors header is malformed.</exception>
    public static ModelInspection Inspect(string path, bool readOnnxInputs = false)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path))
            return InspectFolder(path, readOnnxInputs);
        if (File.Exists(path) && path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            return InspectFile(path);
        if (File.Exists(path) && path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
            return new ModelInspection(path, "ONNX model", null, [Onnx(Path.GetFileNameWithoutExtension(path), path, readOnnxInputs)], []);
        if (File.Exists(path) && PickleCheckpointGuard.HasPickleExtension(path))
            throw new ModelLoadException(path, "a pickle checkpoint (.ckpt/.pt/.bin) can run code when read and is not opened; convert it to .safetensors first.");
        throw new ModelLoadException(path, "not a model folder, .safetensors or .onnx file.");
    }

    private static ModelInspection InspectFolder(string folder, bool readOnnxInputs)
    {
        ModelFamily? family = ModelFamilyResolver.FromModelFolder(folder);
        var components = new List<ComponentInspection>();
        var notes = new List<string>();
        foreach (string dir in Directory.EnumerateDirectories(folder).Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(dir);
            string onnx = Path.Combine(dir, "model.onnx");
            string[] safetensors = Directory.GetFiles(dir, "*.safetensors");
            if (File.Exists(onnx))
                components.Add(Onnx(name, onnx, readOnnxInputs));
            else if (safetensors.Length > 0)
                components.Add(Safetensors(name, safetensors));
            else if (Directory.EnumerateFiles(dir).Any())
                components.Add(new ComponentInspection(name, "config", FolderBytes(dir), null, null, new Dictionary<string, int>()));
        }
        if (File.Exists(Path.Combine(folder, "model_index.json")))
        {
            using JsonDocument index = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "model_index.json")));
            if (index.RootElement.TryGetProperty("_class_name", out JsonElement className))
                notes.Add($"model_index.json: {className.GetString()}");
        }
        else
        {
            notes.Add("no model_index.json: not a diffusers pipeline folder (a component folder, or a folder of files).");
        }
        string kind = components.Any(c => c.Format == "onnx") && components.Any(c => c.Format == "safetensors") ? "diffusers folder (ONNX and safetensors)"
            : components.Any(c => c.Format == "onnx") ? "diffusers ONNX folder"
            : components.Any(c => c.Format == "safetensors") ? "diffusers safetensors folder (graphs built at load)"
            : "folder";
        return new ModelInspection(folder, kind, family, components, notes);
    }

    private static ModelInspection InspectFile(string path)
    {
        using var file = new SafeTensorsWeightSource([path]);
        var names = file.Names.ToList();
        var tensors = new List<SafeTensorInfo>();
        using (SafeTensorsFile header = SafeTensorsFile.Open(path))
            tensors.AddRange(header.Tensors);
        var notes = file.Metadata.Where(m => m.Key is "ss_network_module" or "ss_base_model_version" or "modelspec.architecture" or "modelspec.title")
            .Select(m => $"{m.Key}: {m.Value}").ToList();

        if (names.Any(n => n.Contains("lora_", StringComparison.Ordinal) || n.Contains(".lora.", StringComparison.Ordinal)))
            return new ModelInspection(path, "LoRA", null, LoraTargets(tensors), notes);

        string prefix = names.Any(n => n.StartsWith("model.diffusion_model.", StringComparison.Ordinal)) ? "model.diffusion_model." : "";
        if (names.Any(n => n.StartsWith(prefix + "double_blocks.", StringComparison.Ordinal)))
            return new ModelInspection(path, "FLUX.1 transformer (BFL keys; give the rest of the model with a config folder)", ModelFamily.Flux,
                [Group("transformer", "safetensors", tensors)], notes);
        if (names.Any(n => n.StartsWith(prefix + "joint_blocks.", StringComparison.Ordinal)))
            return new ModelInspection(path, "SD3 transformer (SAI keys; give the rest of the model with a config folder)", ModelFamily.StableDiffusion3,
                [Group("transformer", "safetensors", tensors.Where(t => t.Name.StartsWith(prefix, StringComparison.Ordinal) || prefix.Length == 0))], notes);

        SingleFileLayout layout;
        try
        {
            layout = SingleFileLayout.Detect(file);
        }
        catch (WeightFileException ex)
        {
            notes.Add(ex.Message);
            return new ModelInspection(path, "safetensors file of no known model layout", null, [Group("tensors", "safetensors", tensors)], notes);
        }
        var components = new List<ComponentInspection> { Group("unet", "safetensors", tensors.Where(t => t.Name.StartsWith(layout.UNetPrefix, StringComparison.Ordinal))) };
        if (SingleFileLayout.HasVae(file, layout.VaePrefix))
            components.Add(Group("vae", "safetensors", tensors.Where(t => t.Name.StartsWith(layout.VaePrefix, StringComparison.Ordinal))));
        else
            notes.Add("no VAE inside: give one with a VAE file.");
        for (int i = 0; i < layout.TextEncoders.Count; i++)
        {
            string textPrefix = layout.TextEncoders[i].Prefix;
            components.Add(Group(i == 0 ? "text_encoder" : $"text_encoder_{i + 1}", "safetensors", tensors.Where(t => t.Name.StartsWith(textPrefix, StringComparison.Ordinal))));
        }
        ModelFamily family = layout.Kind switch
        {
            SingleFileKind.StableDiffusionXL => ModelFamily.StableDiffusionXL,
            SingleFileKind.StableDiffusionXLRefiner => ModelFamily.StableDiffusionXLRefiner,
            _ => ModelFamily.StableDiffusion,
        };
        return new ModelInspection(path, $"single-file checkpoint ({layout.Kind})", family, components, notes);
    }

    /// <summary>A LoRA's modules grouped by the model part their keys name (kohya or diffusers/PEFT styles).</summary>
    private static List<ComponentInspection> LoraTargets(List<SafeTensorInfo> tensors)
    {
        static (string Target, string Style) Classify(string name) => name switch
        {
            _ when name.StartsWith("lora_unet_", StringComparison.Ordinal) => ("UNet / transformer", "kohya"),
            _ when name.StartsWith("lora_te1_", StringComparison.Ordinal) || name.StartsWith("lora_te_", StringComparison.Ordinal) => ("text encoder", "kohya"),
            _ when name.StartsWith("lora_te2_", StringComparison.Ordinal) => ("text encoder 2", "kohya"),
            _ when name.StartsWith("unet.", StringComparison.Ordinal) => ("UNet", "diffusers"),
            _ when name.StartsWith("transformer.", StringComparison.Ordinal) => ("transformer", "diffusers"),
            _ when name.StartsWith("text_encoder.", StringComparison.Ordinal) => ("text encoder", "diffusers"),
            _ when name.StartsWith("text_encoder_2.", StringComparison.Ordinal) => ("text encoder 2", "diffusers"),
            _ when name.StartsWith("diffusion_model.", StringComparison.Ordinal) || name.StartsWith("lora_transformer_", StringComparison.Ordinal) => ("transformer", "ComfyUI/kohya"),
            _ => ("other", "unknown"),
        };
        return [.. tensors.GroupBy(t => Classify(t.Name)).OrderBy(g => g.Key.Target, StringComparer.Ordinal).Select(g =>
        {
            long modules = g.Select(t => ModuleName(t.Name)).Distinct(StringComparer.Ordinal).LongCount();
            ComponentInspection group = Group(g.Key.Target, g.Key.Style, g);
            return group with { Tensors = modules };
        })];
    }

    /// <summary>A LoRA key without its factor suffix (<c>.lora_up.weight</c>, <c>.lora_A.weight</c>, <c>.alpha</c>, …).</summary>
    private static string ModuleName(string key)
    {
        foreach (string suffix in new[] { ".lora_up.weight", ".lora_down.weight", ".lora_A.weight", ".lora_B.weight", ".lora.up.weight", ".lora.down.weight", ".alpha" })
            if (key.EndsWith(suffix, StringComparison.Ordinal))
                return key[..^suffix.Length];
        return key;
    }

    private static ComponentInspection Group(string name, string format, IEnumerable<SafeTensorInfo> tensors)
    {
        var list = tensors.ToList();
        return new ComponentInspection(name, format, list.Sum(t => t.DataEnd - t.DataStart), list.Count, list.Sum(t => t.ElementCount),
            list.GroupBy(t => t.DType).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count()));
    }

    private static ComponentInspection Safetensors(string name, string[] files)
    {
        var tensors = new List<SafeTensorInfo>();
        foreach (string file in files.Order(StringComparer.Ordinal))
        {
            using SafeTensorsFile header = SafeTensorsFile.Open(file);
            tensors.AddRange(header.Tensors);
        }
        return Group(name, "safetensors", tensors) with { Bytes = files.Sum(f => new FileInfo(f).Length) };
    }

    private static ComponentInspection Onnx(string name, string file, bool readInputs)
    {
        long bytes = FolderBytes(Path.GetDirectoryName(Path.GetFullPath(file))!);
        if (!readInputs)
            return new ComponentInspection(name, "onnx", bytes, null, null, new Dictionary<string, int>());
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        try
        {
            using var session = new InferenceSession(file, options);
            return new ComponentInspection(name, "onnx", bytes, null, null, new Dictionary<string, int>(),
                [.. session.InputNames.Select(n => TensorSpec.FromMetadata(n, session.InputMetadata[n]))],
                [.. session.OutputNames.Select(n => TensorSpec.FromMetadata(n, session.OutputMetadata[n]))]);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new ModelLoadException(file, $"ONNX Runtime could not read it: {ex.Message}", ex);
        }
    }

    private static long FolderBytes(string folder) => Directory.EnumerateFiles(folder).Sum(f => new FileInfo(f).Length);
}
