using Diffusion.Core.Execution;
using Diffusion.Core.Graphs;
using Diffusion.Core.Graphs.Proto;
using Diffusion.Core.Models;
using Diffusion.Core.Weights;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// The pair of sessions a step-cached call runs (<see cref="DeepCache"/>): the UNet's graph with the cut point's feature as
/// an extra output, and the graph that computes the prediction from that feature. Both come from the pipeline's UNet (its
/// graph, weights and session settings, LoRA weights included) cut at one point by <see cref="DeepCacheGraphs"/>.
/// </summary>
internal sealed class DeepCacheUNets : IDisposable
{
    private DeepCacheUNets(UNet origin, int cachePoint, UNet full, UNet cached)
    {
        Origin = origin;
        CachePoint = cachePoint;
        Full = full;
        Cached = cached;
    }

    /// <summary>The UNet the pair was cut from (a pair is remade when the pipeline's UNet is replaced).</summary>
    public UNet Origin { get; }

    /// <summary>The cut point the pair was made at.</summary>
    public int CachePoint { get; }

    /// <summary>The whole UNet, also writing the feature.</summary>
    public UNet Full { get; }

    /// <summary>The prediction from the feature and the shallow layers.</summary>
    public UNet Cached { get; }

    /// <summary>Cuts <paramref name="unet"/>'s graph at <paramref name="cachePoint"/> (no session is created).</summary>
    /// <exception cref="InvalidOptionException">The UNet declares no cut points (an exported graph) or fewer than asked for.</exception>
    public static (byte[] Full, byte[] Cached) Cut(UNet unet, int cachePoint)
    {
        ModelSource source = unet.Source;
        try
        {
            // A model file is checked for points from its metadata first (streamed, no tensor read): an export names none.
            if (source.Graph is null && !OnnxWeightReader.Read(source.FilePath!).Metadata.ContainsKey(DeepCacheGraphs.PointsKey))
                throw DeepCacheGraphs.NoPoints(unet.ModelPath);
            ModelProto model = ModelProto.Parser.ParseFrom(source.InMemory().Graph);
            return DeepCacheGraphs.Split(model, unet.ModelPath, cachePoint, unet.SampleInput.Name);
        }
        catch (ModelContractException error)
        {
            throw new InvalidOptionException(nameof(GenerationOptions.StepCache), error.Message, error);
        }
    }

    /// <summary>Cuts <paramref name="unet"/>'s graph at <paramref name="cachePoint"/> and loads both halves with its settings.</summary>
    /// <exception cref="InvalidOptionException">The UNet declares no cut points (an exported graph) or fewer than asked for.</exception>
    public static DeepCacheUNets Load(UNet unet, int cachePoint) => Load(unet, cachePoint, Cut(unet, cachePoint));

    /// <summary>Loads the two graphs <see cref="Cut"/> made from <paramref name="unet"/> at <paramref name="cachePoint"/>, with its settings.</summary>
    public static DeepCacheUNets Load(UNet unet, int cachePoint, (byte[] Full, byte[] Cached) graphs)
    {
        // A file's external data (and a built graph's checkpoint) resolve where the UNet's did. The pair keeps the UNet's
        // weight size so its sessions get the UNet's optimisation level, and the full step computes what the UNet does.
        ModelSource source = unet.Source;
        // The two sessions take turns every step: a spinning one's idle workers take the cores the other's run needs
        // (measured: cached calls 0.86–1.02× the uncached time with spinning, 1.4× faster without; docs/performance.md).
        SessionSettings settings = unet.Settings.AllowSpinning is null ? unet.Settings with { AllowSpinning = false } : unet.Settings;
        UNet full = UNet.Load(source.Derived($"{unet.ModelPath} (step cache: full step)", graphs.Full), settings);
        try
        {
            UNet cached = UNet.Load(source.Derived($"{unet.ModelPath} (step cache: cached step at point {cachePoint})", graphs.Cached), settings);
            return new DeepCacheUNets(unet, cachePoint, full, cached);
        }
        catch
        {
            full.Dispose();
            throw;
        }
    }

    /// <summary>Releases both sessions (they load again on the next cached call).</summary>
    public void Unload()
    {
        Full.Unload();
        Cached.Unload();
    }

    public void Dispose()
    {
        Full.Dispose();
        Cached.Dispose();
    }
}
