using Diffusion.Core.Families;
using Diffusion.Core.Models;

namespace Diffusion.Core.Inspection;

/// <summary>What a model folder or weight file holds, as <see cref="ModelInspector.Inspect"/> reads it.</summary>
/// <param name="Path">The folder or file.</param>
/// <param name="Kind">What it is: a diffusers ONNX/safetensors folder, a single-file checkpoint of a named layout, a LoRA, …</param>
/// <param name="Family">The model family when one is recognised.</param>
/// <param name="Components">Its parts (model components, or a LoRA's targets), in a stable order.</param>
/// <param name="Notes">Remarks worth showing (metadata of a LoRA trainer, what loading would need).</param>
public sealed record ModelInspection(string Path, string Kind, ModelFamily? Family, IReadOnlyList<ComponentInspection> Components, IReadOnlyList<string> Notes);

/// <summary>One part of an inspected model.</summary>
/// <param name="Name">The component (<c>unet</c>, <c>text_encoder_2</c>, …) or a LoRA's target.</param>
/// <param name="Format">onnx, safetensors, or for a LoRA the key style.</param>
/// <param name="Bytes">Bytes on disk (weights included), or of its tensors for a part of one file.</param>
/// <param name="Tensors">Tensor (or LoRA module) count, when read.</param>
/// <param name="Parameters">Parameter count, when read.</param>
/// <param name="DTypes">Tensor element types and how many tensors have each.</param>
/// <param name="Inputs">ONNX inputs, when asked for.</param>
/// <param name="Outputs">ONNX outputs, when asked for.</param>
public sealed record ComponentInspection(string Name, string Format, long Bytes, long? Tensors, long? Parameters, IReadOnlyDictionary<string, int> DTypes,
    IReadOnlyList<TensorSpec>? Inputs = null, IReadOnlyList<TensorSpec>? Outputs = null);
