using Diffusion.Core.Execution;
using Diffusion.Core.Graphs;
using Diffusion.Core.Graphs.Architectures;
using Diffusion.Core.Models;
using Diffusion.Core.Tests.Models;

namespace Diffusion.Core.Tests.Graphs;

/// <summary>
/// VAE encoders and decoders built from tiny diffusers checkpoints (tools/reference-data/graphs/generate_vae_checkpoints.py)
/// against diffusers' own AutoencoderKL for the same weights and inputs.
/// </summary>
public sealed class AutoencoderKlGraphTests
{
    private static readonly SessionSettings s_session = new() { IntraOpThreads = 1 };


    [Theory]
    [InlineData("vae")]
    [InlineData("vae-f16")]
    [InlineData("vae-legacy")]
    public void Built_decoder_matches_diffusers(string folder)
    {
        using VaeDecoder decoder = CheckpointVae.LoadDecoder(GraphFixtures.Fixture(folder), s_session);
        var image = new float[2 * 3 * 32 * 32];
        decoder.Decode(GraphFixtures.Reference("vae.latent"), 2, 4, 4, image);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(image, GraphFixtures.Reference(folder + ".decoded")), 0f, 1e-4f);
    }

    [Theory]
    [InlineData("vae")]
    [InlineData("vae-f16")]
    [InlineData("vae-legacy")]
    public void Built_encoder_gives_diffusers_distribution_parameters(string folder)
    {
        using VaeEncoder encoder = CheckpointVae.LoadEncoder(GraphFixtures.Fixture(folder), s_session);
        Assert.Equal("latent_parameters", encoder.Outputs.Single().Name);
        // With no random source the encoder returns the distribution's mean: the first 4 of the 8 parameter channels.
        var mean = new float[2 * 4 * 4 * 4];
        encoder.Encode(GraphFixtures.Reference("vae.image"), 2, 32, 32, mean);
        float[] parameters = GraphFixtures.Reference(folder + ".parameters");
        var expectedMean = new float[mean.Length];
        for (int b = 0; b < 2; b++)
            parameters.AsSpan(b * 128, 64).CopyTo(expectedMean.AsSpan(b * 64));
        Assert.InRange(ReferenceTensors.MaxAbsDifference(mean, expectedMean), 0f, 1e-4f);
    }

    [Fact]
    public void Sixteen_channel_vae_without_quant_convs_matches_diffusers()
    {
        // SD3/3.5 and FLUX.1's layout: 16 latent channels, use_quant_conv and use_post_quant_conv false.
        using VaeDecoder decoder = CheckpointVae.LoadDecoder(GraphFixtures.Fixture("vae-16"), s_session);
        var image = new float[2 * 3 * 32 * 32];
        decoder.Decode(GraphFixtures.Reference("vae-16.latent"), 2, 4, 4, image);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(image, GraphFixtures.Reference("vae-16.decoded")), 0f, 1e-4f);

        using VaeEncoder encoder = CheckpointVae.LoadEncoder(GraphFixtures.Fixture("vae-16"), s_session);
        var mean = new float[2 * 16 * 4 * 4];
        encoder.Encode(GraphFixtures.Reference("vae.image"), 2, 32, 32, mean);
        float[] parameters = GraphFixtures.Reference("vae-16.parameters");
        var expectedMean = new float[mean.Length];
        for (int b = 0; b < 2; b++)
            parameters.AsSpan(b * 512, 256).CopyTo(expectedMean.AsSpan(b * 256));
        Assert.InRange(ReferenceTensors.MaxAbsDifference(mean, expectedMean), 0f, 1e-4f);
    }

    [Fact]
    public void Node_names_follow_torchs_module_scopes()
    {
        using var weights = new SafeTensorsWeightSource([GraphFixtures.Fixture("vae", "diffusion_pytorch_model.safetensors")]);
        BuiltModel built = AutoencoderKlGraph.BuildDecoder(AutoencoderKlConfig.FromJson(GraphFixtures.Fixture("vae", "config.json")), weights);
        var nodes = Diffusion.Core.Graphs.Proto.ModelProto.Parser.ParseFrom(built.Graph).Graph.Node.Select(n => n.Name).ToHashSet();
        Assert.Contains("/decoder/mid_block/attentions.0/to_q/Gemm", nodes);
        Assert.Contains("/decoder/up_blocks.0/resnets.1/conv1/Conv", nodes);
        Assert.Contains("/decoder/up_blocks.0/upsamplers.0/conv/Conv", nodes);
        Assert.Contains("/post_quant_conv/Conv", nodes);
    }

    [Fact]
    public void The_real_sd_vae_has_the_real_parameter_counts()
    {
        Assert.Equal(34_163_664L, AutoencoderKlGraph.BuildEncoder(AutoencoderKlConfig.StableDiffusion, new ShapeOnlyWeightSource()).ParameterCount);
        Assert.Equal(49_490_199L, AutoencoderKlGraph.BuildDecoder(AutoencoderKlConfig.StableDiffusion, new ShapeOnlyWeightSource()).ParameterCount);
        // SD3/3.5 and FLUX.1: 16 latent channels, no quant convs (the 83,819,683).
        Assert.Equal(83_819_683L, AutoencoderKlGraph.BuildEncoder(AutoencoderKlConfig.SixteenChannel, new ShapeOnlyWeightSource()).ParameterCount
            + AutoencoderKlGraph.BuildDecoder(AutoencoderKlConfig.SixteenChannel, new ShapeOnlyWeightSource()).ParameterCount);
    }

    [Theory]
    [InlineData("\"norm_num_groups\": 8", "\"norm_num_groups\": 3", "not a multiple of norm_num_groups")]
    [InlineData("\"act_fn\": \"silu\"", "\"act_fn\": \"relu\"", "act_fn relu")]
    [InlineData("\"layers_per_block\": 2", "\"layers_per_block\": 900", "layers_per_block must be an integer from 1 to 8")]
    [InlineData("\"_class_name\": \"AutoencoderKL\"", "\"_class_name\": \"AutoencoderTiny\"", "AutoencoderTiny")]
    public void An_unsupported_config_is_named_before_anything_is_built(string from, string to, string expected)
    {
        string folder = GraphFixtures.CopyFolder("vae");
        string config = Path.Combine(folder, "config.json");
        string text = File.ReadAllText(config);
        Assert.Contains(from, text, StringComparison.Ordinal);
        File.WriteAllText(config, text.Replace(from, to));
        var error = Assert.Throws<ModelLoadException>(() => CheckpointVae.LoadDecoder(folder, s_session));
        Assert.Equal(config, error.Path);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_config_that_does_not_fit_the_weights_names_the_tensor()
    {
        string folder = GraphFixtures.CopyFolder("vae");
        string config = Path.Combine(folder, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"latent_channels\": 4", "\"latent_channels\": 16"));
        long before = SessionFactory.SessionsCreatedOnCurrentThread;
        var error = Assert.Throws<WeightFileException>(() => CheckpointVae.LoadDecoder(folder, s_session));
        Assert.Equal("post_quant_conv.weight", error.Key);
        Assert.Equal(before, SessionFactory.SessionsCreatedOnCurrentThread);
    }
}
