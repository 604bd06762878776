using Diffusion.Core.Models;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// Whether a call's ControlNet units fit the UNet, checked before any model runs: the fused form's indices, and for the
/// split form that each ControlNet is of the UNet's family (added conditioning, text width) and that its residual
/// outputs match the UNet's residual inputs one to one.
/// </summary>
internal static class ControlNetCompatibility
{
    public static void CheckFused(UNet unet, ControlNetUnit[] units)
    {
        int? count = unet.FusedControlNetCount;
        var seen = new HashSet<int>();
        for (int k = 0; k < units.Length; k++)
        {
            string option = $"{nameof(GenerationOptions.ControlNets)}[{k}]";
            if (units[k].FusedIndex is not int index)
                throw new InvalidOptionException($"{option}.{nameof(ControlNetUnit.FusedIndex)}",
                    $"the UNet ({unet.ModelPath}) has its ControlNets fused in; pick one by {nameof(ControlNetUnit.FusedIndex)} instead of passing a {nameof(ControlNet)} model.");
            if (count is int n && index >= n)
                throw new InvalidOptionException($"{option}.{nameof(ControlNetUnit.FusedIndex)}", $"the UNet ({unet.ModelPath}) contains {n} ControlNets; got index {index}.");
            if (!seen.Add(index))
                throw new InvalidOptionException($"{option}.{nameof(ControlNetUnit.FusedIndex)}", $"ControlNet {index} is already driven by another unit.");
        }
    }

    public static void CheckSplit(UNet unet, ControlNetUnit[] units)
    {
        for (int k = 0; k < units.Length; k++)
        {
            if (units[k].Model is not { } controlNet)
                throw new InvalidOptionException($"{nameof(GenerationOptions.ControlNets)}[{k}].{nameof(ControlNetUnit.Model)}",
                    $"the UNet ({unet.ModelPath}) is not a fused ControlNet UNet; pass a split {nameof(ControlNet)} model.");
            if (!unet.AcceptsControlNetResiduals)
                throw new ModelContractException(unet.ModelPath, "down_block_0_additional_residual",
                    "the UNet has no ControlNet residual inputs (down_block_{i}_additional_residual, mid_block_additional_residual); export it with them, or use a fused ControlNet UNet.");
            RequireMatchingConditioning(unet, controlNet); // first: a ControlNet of another family also differs in its residuals
            RequireMatchingResiduals(unet, controlNet);
        }
    }

    /// <summary>
    /// The ControlNet's added conditioning must come from the UNet's (it gets the same values), and an SDXL UNet needs an
    /// SDXL ControlNet: one trained for SD 1.x/2.x has neither the pooled embedding nor the time ids, nor the text width.
    /// </summary>
    private static void RequireMatchingConditioning(UNet unet, ControlNet controlNet)
    {
        foreach (TensorSpec input in controlNet.ConditioningInputs)
        {
            if (unet.FindConditioningInput(input.Name) is null)
                throw new ModelContractException(controlNet.ModelPath, input.Name,
                    $"the ControlNet takes {input} but the UNet ({unet.ModelPath}) does not: an SDXL ControlNet runs with an SDXL UNet.");
        }
        foreach (string name in (ReadOnlySpan<string>)["text_embeds", "time_ids"])
        {
            if (unet.FindConditioningInput(name) is not null && !controlNet.ConditioningInputs.Any(i => i.Name == name))
                throw new ModelContractException(controlNet.ModelPath, name,
                    $"the UNet ({unet.ModelPath}) is an SDXL UNet (text_embeds, time_ids) but the ControlNet takes no '{name}': pass a ControlNet made for SDXL (an SD 1.x/2.x one does not fit).");
        }
        if (unet.TextEmbeddingWidth is int unetWidth && controlNet.TextEmbeddingWidth is int controlWidth && unetWidth != controlWidth)
            throw new ModelContractException(controlNet.ModelPath, controlNet.EncoderHiddenStatesInput.Name,
                $"the ControlNet takes text embeddings {controlWidth} wide, the UNet ({unet.ModelPath}) {unetWidth}: they are for different model families.");
    }

    /// <summary>The ControlNet's residual outputs must match the UNet's residual inputs one to one: same count, same fixed channels.</summary>
    private static void RequireMatchingResiduals(UNet unet, ControlNet controlNet)
    {
        IReadOnlyList<TensorSpec> inputs = unet.DownBlockResidualInputs;
        IReadOnlyList<TensorSpec> outputs = controlNet.DownBlockResidualOutputs;
        if (inputs.Count != outputs.Count)
            throw new ModelContractException(controlNet.ModelPath, outputs.Count > 0 ? outputs[^1].Name : controlNet.MidBlockResidualOutput.Name,
                $"the ControlNet has {outputs.Count} down-block residual outputs but the UNet ({unet.ModelPath}) takes {inputs.Count}.");
        if (unet.ResidualLayersPerBlock != controlNet.LayersPerBlock)
            throw new ModelContractException(controlNet.ModelPath, controlNet.MidBlockResidualOutput.Name,
                $"the ControlNet's down blocks have {controlNet.LayersPerBlock} ResBlocks (layers_per_block), the UNet's ({unet.ModelPath}) {unet.ResidualLayersPerBlock}: their residuals would differ in size.");
        for (int i = 0; i < inputs.Count; i++)
            RequireMatchingChannels(unet, controlNet, inputs[i], outputs[i]);
        RequireMatchingChannels(unet, controlNet, unet.MidBlockResidualInput!, controlNet.MidBlockResidualOutput);
    }

    private static void RequireMatchingChannels(UNet unet, ControlNet controlNet, TensorSpec input, TensorSpec output)
    {
        if (input.GetFixedDimension(1) is int expected && output.GetFixedDimension(1) is int actual && expected != actual)
            throw new ModelContractException(controlNet.ModelPath, output.Name,
                $"the ControlNet's {output} has {actual} channels but the UNet's {input} ({unet.ModelPath}) takes {expected}.");
        if (input.Rank != 4 || output.Rank != 4)
            throw new ModelContractException(controlNet.ModelPath, output.Name, $"expected rank-4 residuals, got {output} for the UNet's {input}.");
    }
}
