using Diffusion.Core.Weights;

namespace Diffusion.Core.Adapters;

/// <summary>The initializer holding one module's weight and how it is laid out relative to torch's [out, in(, kh, kw)].</summary>
internal sealed class ModuleWeight
{
    public ModuleWeight(OnnxInitializer initializer, bool storedInOut, bool isConv, bool shiftFirst = false)
    {
        ShiftFirst = shiftFirst;
        Initializer = initializer;
        StoredInOut = storedInOut;
        IsConv = isConv;
    }

    public OnnxInitializer Initializer { get; }

    /// <summary>True when stored transposed, [in, out] (MatMul, Gemm without transB).</summary>
    public bool StoredInOut { get; }

    public bool IsConv { get; }

    /// <summary>A modulation whose rows are stored (shift, scale), the checkpoint's order, where diffusers' layer has
    /// (scale, shift) (<see cref="Graphs.ShiftFirstModulations"/>): an update in diffusers' order is swapped by halves.</summary>
    public bool ShiftFirst { get; }

    /// <summary>Output features (torch's first dimension).</summary>
    public long OutFeatures => StoredInOut ? Initializer.Dims[1] : Initializer.Dims[0];

    /// <summary>Input columns per output: in × kh × kw.</summary>
    public long InputColumns => Initializer.ElementCount / OutFeatures;
}
