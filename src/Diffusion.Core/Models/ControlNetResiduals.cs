using System.Numerics.Tensors;

namespace Diffusion.Core.Models;

/// <summary>
/// The residuals a ControlNet adds to a UNet for one call: the down-block residuals (12 for SD 1.x/2.x) and
/// the mid-block residual, each a float32 <c>[batch, channels, h, w]</c> buffer owned by this object. A
/// <see cref="ControlNet"/> writes them and a split-form <see cref="UNet"/> reads them; create one per
/// call shape and reuse it across steps.
/// </summary>
/// <remarks>
/// With two ResBlocks per down block (SD 1.x/2.x, SDXL), residual <c>i</c> has the latent size halved <c>i / 3</c>
/// times (rounding up, as the stride-2 downsamplers do); the mid residual has the size of the last down residual. For latents 64×64 and SD 1.5:
/// 0–2 are 320×64×64, 3 is 320×32×32, 4–5 640×32×32, 6 640×16×16, 7–8 1280×16×16, 9–11 and mid 1280×8×8.
/// </remarks>
public sealed class ControlNetResiduals
{
    private readonly float[][] _down;
    private readonly float[] _mid;
    private readonly long[][] _downShapes;
    private readonly long[] _midShape;

    /// <summary>Allocates zeroed residuals.</summary>
    /// <param name="downBlockChannels">Channels of each down residual, in order (e.g. 320, 320, 320, 320, 640, … for SD 1.5).</param>
    /// <param name="midBlockChannels">Channels of the mid residual (1280 for SD 1.5).</param>
    /// <param name="batch">Batch of the UNet call they go with.</param>
    /// <param name="height">Latent height of that call.</param>
    /// <param name="width">Latent width of that call.</param>
    /// <param name="layersPerBlock">ResBlocks per down block of the ControlNet's encoder (diffusers' <c>layers_per_block</c>: 2 for SD 1.x/2.x and SDXL): where the downsamplers' residuals fall.</param>
    /// <exception cref="ArgumentException">No down residual, or a channel count, size or layer count that is not positive.</exception>
    public ControlNetResiduals(IReadOnlyList<int> downBlockChannels, int midBlockChannels, int batch, int height, int width,
        int layersPerBlock = ControlNetResidualNames.DefaultLayersPerBlock)
    {
        ArgumentNullException.ThrowIfNull(downBlockChannels);
        if (downBlockChannels.Count == 0)
            throw new ArgumentException("At least one down-block residual is needed.", nameof(downBlockChannels));
        ArgumentOutOfRangeException.ThrowIfLessThan(midBlockChannels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(layersPerBlock, 1);
        Batch = batch;
        Height = height;
        Width = width;
        int count = downBlockChannels.Count;
        _down = new float[count][];
        _downShapes = new long[count][];
        var channels = new int[count];
        for (int i = 0; i < count; i++)
        {
            int c = downBlockChannels[i];
            ArgumentOutOfRangeException.ThrowIfLessThan(c, 1, nameof(downBlockChannels));
            channels[i] = c;
            int level = ControlNetResidualNames.Level(i, layersPerBlock);
            _downShapes[i] = [batch, c, ControlNetResidualNames.SizeAtLevel(height, level), ControlNetResidualNames.SizeAtLevel(width, level)];
            _down[i] = new float[checked((int)(_downShapes[i][0] * _downShapes[i][1] * _downShapes[i][2] * _downShapes[i][3]))];
        }
        DownBlockChannels = channels;
        MidBlockChannels = midBlockChannels;
        int midLevel = ControlNetResidualNames.Level(count - 1, layersPerBlock);
        _midShape = [batch, midBlockChannels, ControlNetResidualNames.SizeAtLevel(height, midLevel), ControlNetResidualNames.SizeAtLevel(width, midLevel)];
        _mid = new float[checked((int)(_midShape[0] * _midShape[1] * _midShape[2] * _midShape[3]))];
    }

    /// <summary>Batch size.</summary>
    public int Batch { get; }

    /// <summary>Latent height of the call (the full-size residuals' height).</summary>
    public int Height { get; }

    /// <summary>Latent width of the call.</summary>
    public int Width { get; }

    /// <summary>Number of down-block residuals.</summary>
    public int DownBlockCount => _down.Length;

    /// <summary>Channels of each down-block residual.</summary>
    public IReadOnlyList<int> DownBlockChannels { get; }

    /// <summary>Channels of the mid-block residual.</summary>
    public int MidBlockChannels { get; }

    /// <summary>Down-block residual <paramref name="index"/>, float32 <c>[batch, channels, h, w]</c>.</summary>
    public Memory<float> GetDownBlock(int index) => _down[index];

    /// <summary>The shape of down-block residual <paramref name="index"/>.</summary>
    public ReadOnlySpan<long> GetDownBlockShape(int index) => _downShapes[index];

    /// <summary>The mid-block residual, float32 <c>[batch, channels, h, w]</c>.</summary>
    public Memory<float> MidBlock => _mid;

    /// <summary>The shape of the mid-block residual.</summary>
    public ReadOnlySpan<long> MidBlockShape => _midShape;

    /// <summary>Sets every residual to zero (the UNet then predicts as without ControlNet).</summary>
    public void Clear()
    {
        foreach (float[] residual in _down)
            Array.Clear(residual);
        Array.Clear(_mid);
    }

    /// <summary>Multiplies every residual by <paramref name="scale"/> (diffusers' <c>conditioning_scale</c>).</summary>
    public void Scale(float scale)
    {
        foreach (float[] residual in _down)
            TensorPrimitives.Multiply(residual, scale, residual);
        TensorPrimitives.Multiply(_mid, scale, _mid);
    }

    /// <summary>Adds <paramref name="other"/>'s residuals to these, as diffusers' <c>MultiControlNetModel</c> sums its ControlNets.</summary>
    /// <exception cref="ArgumentException">The two do not have the same shapes.</exception>
    public void Add(ControlNetResiduals other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (!HasSameShapes(other))
            throw new ArgumentException("The residuals to add have different shapes.", nameof(other));
        for (int i = 0; i < _down.Length; i++)
            TensorPrimitives.Add(_down[i], other._down[i], _down[i]);
        TensorPrimitives.Add(_mid, other._mid, _mid);
    }

    /// <summary>Whether <paramref name="other"/> has the same count and shapes of residuals.</summary>
    public bool HasSameShapes(ControlNetResiduals other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other._down.Length != _down.Length || !other._midShape.AsSpan().SequenceEqual(_midShape))
            return false;
        for (int i = 0; i < _down.Length; i++)
        {
            if (!other._downShapes[i].AsSpan().SequenceEqual(_downShapes[i]))
                return false;
        }
        return true;
    }
}
