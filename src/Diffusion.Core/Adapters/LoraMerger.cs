using System.Numerics.Tensors;
using Diffusion.Core.Weights;

namespace Diffusion.Core.Adapters;

/// <summary>
/// Merges LoRAs into copies of an ONNX model's weights, producing <see cref="WeightOverrides"/> to apply at
/// session creation; the model file is not changed.
/// </summary>
/// <remarks>
/// For each LoRA module matched to a weight W (torch layout [out, in(, kh, kw)]):
/// <c>W' = W + multiplier · (alpha / rank) · (up @ down)</c>, with up [out, rank] and down [rank, in·kh·kw]
/// reshaped to W's shape (kohya-ss <c>networks/lora.py</c> merge and diffusers' <c>fuse_lora</c> do the same).
/// The sum is formed in float32 and written back in W's element type (float16 rounded to nearest even).
/// MatMul weights stored [in, out] get the transposed update. Several LoRAs on the same weight add up.
/// A weight whose every update has scale 0 (multiplier 0) gets no override at all, so the model runs bit-identical
/// to the unmodified one (an override, even of equal values, would switch off ORT optimisations that change rounding).
/// </remarks>
/// <example>
/// <code>
/// var lora = LoraAdapter.Load("loras/style.safetensors");
/// using WeightOverrides overrides = LoraMerger.CreateOverrides("sd/unet/model.onnx", LoraTarget.UNet,
///     [new LoraWeight(lora, 0.8f)], out LoraApplicationReport report);
/// logger.LogInformation("{Report}", report);          // matched / unmatched counts
/// using var options = new SessionOptions();
/// overrides.ApplyTo(options);
/// using var unet = new InferenceSession("sd/unet/model.onnx", options); // dispose before overrides
/// </code>
/// </example>
public static class LoraMerger
{
    /// <summary>
    /// Merges <paramref name="loras"/> into the weights of the model at <paramref name="modelPath"/>, the component
    /// <paramref name="target"/> of a pipeline.
    /// </summary>
    /// <param name="modelPath">The component's <c>model.onnx</c> (external data next to it is read too).</param>
    /// <param name="target">Which component it is; only the LoRA modules for it are merged.</param>
    /// <param name="loras">LoRAs and their multipliers, merged in order.</param>
    /// <param name="report">What matched and what did not.</param>
    /// <returns>The merged weights; apply with <see cref="WeightOverrides.ApplyTo(Microsoft.ML.OnnxRuntime.SessionOptions)"/> and dispose after the session.</returns>
    /// <exception cref="LoraMismatchException">A LoRA has modules for <paramref name="target"/> but none exists in the
    /// model (a LoRA for another architecture), or a module's factor shapes do not fit its weight.</exception>
    /// <exception cref="WeightFileException">A LoRA file or a model weight cannot be read.</exception>
    /// <exception cref="ModelLoadException">The model is missing or malformed.</exception>
    /// <exception cref="InvalidOptionException">A multiplier is not finite.</exception>
    public static WeightOverrides CreateOverrides(string modelPath, LoraTarget target, IReadOnlyList<LoraWeight> loras,
        out LoraApplicationReport report)
        => CreateOverrides(Models.ModelSource.FromFile(modelPath ?? throw new ArgumentNullException(nameof(modelPath))), target, loras, out report);

    /// <summary>As <see cref="CreateOverrides(string, LoraTarget, IReadOnlyList{LoraWeight}, out LoraApplicationReport)"/>, for a model file or a built graph.</summary>
    internal static WeightOverrides CreateOverrides(Models.ModelSource model, LoraTarget target, IReadOnlyList<LoraWeight> loras,
        out LoraApplicationReport report)
    {
        ArgumentNullException.ThrowIfNull(loras);
        string modelPath = model.Description;
        OnnxModelGraph graph = OnnxWeightReader.Read(model);
        ModuleWeightIndex index = ModuleWeightIndex.Build(graph);
        CheckpointLoraModules? checkpointLayers = null; // built on the first module named after a checkpoint layer
        var merged = new Dictionary<string, MergedWeight>(StringComparer.Ordinal);
        var mergeOrder = new List<string>();
        var matched = new List<string>();
        var unmatched = new List<string>();
        int otherComponents = 0;

        foreach (LoraWeight lora in loras)
        {
            LoraAdapter adapter = lora.Adapter ?? throw new ArgumentException("a LoraWeight has no adapter.", nameof(loras));
            if (!float.IsFinite(lora.Multiplier))
                throw new InvalidOptionException($"LoRA '{adapter.Name}' multiplier", $"must be a finite number, got {lora.Multiplier}.");
            int forTarget = 0, matchedHere = 0;
            var missing = new List<string>();
            using SafeTensorsFile file = SafeTensorsFile.Open(adapter.FilePath);
            foreach (LoraModule module in adapter.Modules)
            {
                if (module.Target != target)
                {
                    otherComponents++;
                    continue;
                }
                forTarget++;
                IReadOnlyList<LoraUpdateTarget> targets;
                bool ambiguous = false;
                bool found = module.CheckpointNames
                    ? (checkpointLayers ??= CheckpointLoraModules.Build(index)).TryFind(module.ModuleName, module.Dotted, out targets)
                    : TryFindLayer(index, module, out targets, out ambiguous);
                if (!found)
                {
                    string entry = $"{adapter.Name}: {module.DisplayKey}" + (ambiguous ? " (ambiguous: several weights have this name)" : string.Empty);
                    unmatched.Add(entry);
                    missing.Add(module.DisplayKey);
                    continue;
                }
                CheckShapes(adapter, module, targets, modelPath);
                matchedHere++;
                matched.Add($"{adapter.Name}: {module.DisplayKey} -> {string.Join(", ", targets.Select(t => t.Weight.Initializer.Name))}");
                float alpha = module.AlphaKey is null ? module.Rank : file.ReadAsFloat32(module.AlphaKey)[0];
                float scale = lora.Multiplier * alpha / module.Rank;
                if (scale == 0f)
                    continue; // W' = W: no override, so the session is the unmodified model's, bit for bit
                float[] down = file.ReadAsFloat32(module.DownKey), up = file.ReadAsFloat32(module.UpKey);
                foreach (LoraUpdateTarget layer in targets)
                {
                    ModuleWeight weight = layer.Weight;
                    string name = weight.Initializer.Name;
                    if (!merged.TryGetValue(name, out MergedWeight? mergedWeight))
                    {
                        mergedWeight = new MergedWeight(weight, graph.ReadAsFloat32(weight.Initializer));
                        merged.Add(name, mergedWeight);
                        mergeOrder.Add(name);
                    }
                    AddUpdate(mergedWeight.Values, weight, down, UpRows(up, module.Rank, layer), module.Rank, scale);
                }
            }
            foreach ((LoraTarget? keyTarget, string key) in adapter.UnsupportedKeys)
            {
                if (keyTarget == target || keyTarget is null)
                {
                    forTarget++;
                    unmatched.Add($"{adapter.Name}: {key} (not a supported LoRA key)");
                    missing.Add(key);
                }
            }
            if (forTarget > 0 && matchedHere == 0 && adapter.CountModules(target) > 0)
            {
                throw new LoraMismatchException(adapter.FilePath, null, modelPath,
                    $"LoRA for another architecture: none of its {forTarget} {target} modules exists in this model " +
                    $"(first: {string.Join(", ", missing.GetRange(0, Math.Min(3, missing.Count)))}; the model has {index.Count} adaptable modules).");
            }
        }

        var overrides = new WeightOverrides(modelPath);
        try
        {
            foreach (string name in mergeOrder)
            {
                MergedWeight entry = merged[name];
                overrides.Add(name, entry.Values, entry.Weight.Initializer.Dims, entry.Weight.Initializer.ElementType, entry.Weight.IsConv);
            }
        }
        catch
        {
            overrides.Dispose();
            throw;
        }
        report = new LoraApplicationReport(modelPath, target, matched, unmatched, otherComponents);
        return overrides;
    }

    private sealed record MergedWeight(ModuleWeight Weight, float[] Values);

    /// <summary>A module named as diffusers names the layer: its one weight, all rows.</summary>
    private static bool TryFindLayer(ModuleWeightIndex index, LoraModule module, out IReadOnlyList<LoraUpdateTarget> targets, out bool ambiguous)
    {
        bool found = index.TryFind(module.ModuleName, module.Dotted, out ModuleWeight? weight, out ambiguous);
        targets = found ? [new LoraUpdateTarget(weight!, 0, weight!.OutFeatures, UpdateShiftFirst: false)] : [];
        return found;
    }

    private static void CheckShapes(LoraAdapter adapter, LoraModule module, IReadOnlyList<LoraUpdateTarget> targets, string modelPath)
    {
        long rows = 0;
        foreach (LoraUpdateTarget target in targets)
            rows = Math.Max(rows, target.FirstRow + target.RowCount);
        foreach (LoraUpdateTarget target in targets)
        {
            ModuleWeight weight = target.Weight;
            if (module.OutFeatures != rows || module.InputColumns != weight.InputColumns)
            {
                string layers = targets.Count == 1 ? string.Empty : $" (rows {target.FirstRow}–{target.FirstRow + target.RowCount - 1} of {rows}, fused in the checkpoint)";
                throw new LoraMismatchException(adapter.FilePath, module.DisplayKey, modelPath,
                    $"shape mismatch: the LoRA maps {module.InputColumns} inputs to {module.OutFeatures} outputs (rank {module.Rank}), " +
                    $"but weight '{weight.Initializer.Name}' [{string.Join(", ", weight.Initializer.Dims)}]{layers} maps {weight.InputColumns} to {rows}.");
            }
        }
    }

    /// <summary>
    /// The rows of the up factor [out, rank] that update <paramref name="target"/>'s weight, with their halves swapped when the
    /// update and the weight keep a modulation's (shift, scale) rows in opposite orders.
    /// </summary>
    private static ReadOnlySpan<float> UpRows(float[] up, int rank, LoraUpdateTarget target)
    {
        var rows = new ReadOnlySpan<float>(up, checked((int)(target.FirstRow * rank)), checked((int)(target.RowCount * rank)));
        if (target.UpdateShiftFirst == target.Weight.ShiftFirst)
            return rows;
        int half = rows.Length / 2;
        var swapped = new float[rows.Length];
        rows[half..].CopyTo(swapped);
        rows[..half].CopyTo(swapped.AsSpan(half));
        return swapped;
    }

    /// <summary>
    /// W += scale · up·down. Each row of the update is first summed over the rank (as torch's <c>up @ down</c>),
    /// then scaled and added, so the rounding follows the reference merge closely.
    /// </summary>
    private static void AddUpdate(float[] weight, ModuleWeight layout, float[] down, ReadOnlySpan<float> up, int rank, float scale)
    {
        int outFeatures = checked((int)layout.OutFeatures);
        int columns = checked((int)layout.InputColumns);
        if (!layout.StoredInOut)
        {
            // W [out, columns]: row o += scale · Σ_r up[o, r] · down[r, :]
            var row = new float[columns];
            for (int o = 0; o < outFeatures; o++)
            {
                Array.Clear(row);
                for (int r = 0; r < rank; r++)
                    TensorPrimitives.MultiplyAdd(down.AsSpan(r * columns, columns), up[o * rank + r], row, row);
                Span<float> target = weight.AsSpan(o * columns, columns);
                TensorPrimitives.MultiplyAdd(row, scale, target, target);
            }
            return;
        }

        // W [columns, out] (transposed): row c += scale · Σ_r down[r, c] · up[:, r]
        var upTransposed = new float[rank * outFeatures];
        for (int o = 0; o < outFeatures; o++)
        {
            for (int r = 0; r < rank; r++)
                upTransposed[r * outFeatures + o] = up[o * rank + r];
        }
        var update = new float[outFeatures];
        for (int c = 0; c < columns; c++)
        {
            Array.Clear(update);
            for (int r = 0; r < rank; r++)
                TensorPrimitives.MultiplyAdd(upTransposed.AsSpan(r * outFeatures, outFeatures), down[r * columns + c], update, update);
            Span<float> target = weight.AsSpan(c * outFeatures, outFeatures);
            TensorPrimitives.MultiplyAdd(update, scale, target, target);
        }
    }
}
