namespace Diffusion.Core.Graphs;

/// <summary>Element types a checkpoint's floating-point weights come in.</summary>
internal enum WeightElementType
{
    Float32,
    Float16,
    BFloat16,
}
