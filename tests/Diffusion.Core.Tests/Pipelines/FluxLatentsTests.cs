using Diffusion.Core.Pipelines;
using Diffusion.Core.Tests.Graphs;

namespace Diffusion.Core.Tests.Pipelines;

/// <summary>FluxLatents against FluxPipeline's _pack_latents / _prepare_latent_image_ids (tools/reference-data/graphs/generate_flux_transformer.py).</summary>
public sealed class FluxLatentsTests
{
    [Fact]
    public void Pack_equals_diffusers_and_unpack_inverts_it()
    {
        float[] latents = GraphFixtures.Reference("flux.pack.latents");
        var packed = new float[latents.Length];
        FluxLatents.Pack(latents, 2, 16, 4, 6, packed);
        Assert.Equal(GraphFixtures.Reference("flux.pack.packed"), packed);
        var unpacked = new float[latents.Length];
        FluxLatents.Unpack(packed, 2, 16, 4, 6, unpacked);
        Assert.Equal(latents, unpacked);
    }

    [Fact]
    public void Image_ids_equal_diffusers_and_text_ids_are_zero()
    {
        Assert.Equal(GraphFixtures.Reference("flux.pack.ids"), FluxLatents.ImageIds(4, 6));
        Assert.Equal(6, FluxLatents.ImageSequenceLength(4, 6));
        Assert.Equal(4096, FluxLatents.ImageSequenceLength(128, 128)); // 1024² → the FLUX.1 mu anchor's 4096 tokens
        Assert.All(FluxLatents.TextIds(512), v => Assert.Equal(0f, v));
    }

    [Theory]
    [InlineData(5, 6)]
    [InlineData(4, 0)]
    public void Odd_or_empty_latent_sides_are_refused(int height, int width)
        => Assert.Throws<ArgumentException>(() => FluxLatents.ImageIds(height, width));
}
