namespace Diffusion.Core.Graphs.SingleFile;

/// <summary>Where a diffusers-named parameter lies in a checkpoint of another layout.</summary>
/// <param name="Name">The checkpoint's tensor.</param>
/// <param name="Part">For a fused tensor (OpenCLIP's <c>in_proj_weight</c> = q, k, v stacked on rows): which row block.</param>
/// <param name="Parts">How many row blocks the tensor stacks (1: the whole tensor).</param>
/// <param name="Transposed">The checkpoint stores the linear weight [in, out] (OpenCLIP's <c>text_projection</c>).</param>
/// <param name="FirstRow">With <paramref name="RowCount"/>: a row range of unequal blocks (BFL's FLUX <c>linear1</c> = q, k, v, MLP).</param>
/// <param name="RowCount">How many rows from <paramref name="FirstRow"/> (0: not a row range).</param>
internal readonly record struct CheckpointTensor(string Name, int Part = 0, int Parts = 1, bool Transposed = false, long FirstRow = 0, long RowCount = 0);

/// <summary>
/// A view of one component inside a checkpoint of another layout (a single-file LDM checkpoint): each parameter the
/// architecture asks for by its diffusers name is found under the checkpoint's name, a row block of a fused tensor is
/// referenced as its own byte range, and a 1×1 convolution stands for the linear weight holding the same bytes.
/// Nothing is copied; the built graph names each initializer by its diffusers name.
/// </summary>
internal sealed class MappedWeightSource(SafeTensorsWeightSource file, string component, Func<string, CheckpointTensor?> map) : IWeightSource
{
    public string Description => $"{component} of {file.Description}";

    public WeightReference? Find(string name, long[] expectedShape)
    {
        if (map(name) is not CheckpointTensor target)
            return null;
        WeightReference? stored = file.Find(target.Name, expectedShape);
        if (stored is null)
            return null;
        long[] shape = stored.Shape;
        if (target.RowCount > 0)
        {
            if (shape.Length == 0 || target.FirstRow + target.RowCount > shape[0])
                throw new WeightFileException(stored.FilePath, stored.Name, $"has shape [{string.Join(", ", shape)}]; rows {target.FirstRow}..{target.FirstRow + target.RowCount} are asked for (for {name}).");
            long rowLength = stored.Length / shape[0];
            return stored with { Shape = [target.RowCount, .. shape[1..]], Offset = stored.Offset + target.FirstRow * rowLength, Length = target.RowCount * rowLength };
        }
        if (target.Parts > 1)
        {
            if (shape.Length == 0 || shape[0] % target.Parts != 0)
                throw new WeightFileException(stored.FilePath, stored.Name, $"has shape [{string.Join(", ", shape)}]; its rows should hold {target.Parts} equal blocks (for {name}).");
            long partLength = stored.Length / target.Parts;
            shape = [shape[0] / target.Parts, .. shape[1..]];
            return stored with { Name = target.Name, Shape = shape, Offset = stored.Offset + target.Part * partLength, Length = partLength };
        }
        // LDM's VAE attention keeps q/k/v/proj_out as [C, C, 1, 1] convolutions: the bytes of diffusers' [C, C] linear weights.
        if (shape.Length == expectedShape.Length + 2 && shape[^1] == 1 && shape[^2] == 1 && shape.AsSpan(0, expectedShape.Length).SequenceEqual(expectedShape))
            return stored with { Shape = expectedShape };
        return target.Transposed ? stored with { StoredTransposed = true } : stored;
    }
}
