namespace Diffusion.Core.Graphs;

/// <summary>
/// Where one weight's bytes are: a tensor of a <c>.safetensors</c> file, referenced by the graph as external data
/// (file name, absolute byte offset, length) so its bytes are never copied into the model's protobuf.
/// </summary>
/// <param name="Name">The checkpoint's tensor name; the initializer keeps it, so LoRA and errors see the checkpoint's names.</param>
/// <param name="FilePath">The file holding the bytes.</param>
/// <param name="ElementType">The stored element type (float32, float16 or bfloat16).</param>
/// <param name="Shape">The stored shape.</param>
/// <param name="Offset">Byte offset of the first element in the file.</param>
/// <param name="Length">Byte length.</param>
/// <param name="StoredTransposed">
/// A linear weight stored [in, out] (OpenCLIP's <c>text_projection</c>, used as <c>x @ P</c>) where the architecture
/// names the [out, in] weight of an <c>nn.Linear</c>; <see cref="Shape"/> is then the stored [in, out].
/// </param>
internal sealed record WeightReference(string Name, string FilePath, WeightElementType ElementType, long[] Shape, long Offset, long Length,
    bool StoredTransposed = false)
{
    /// <summary>Elements in the tensor.</summary>
    public long ElementCount
    {
        get
        {
            long count = 1;
            foreach (long dimension in Shape)
                count *= dimension;
            return count;
        }
    }
}
