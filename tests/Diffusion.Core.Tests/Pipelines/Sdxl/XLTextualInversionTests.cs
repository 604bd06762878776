using Diffusion.Core.Execution;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Tests.Graphs;
using Diffusion.Core.Tests.Models;
using Diffusion.Core.Tests.Weights;

namespace Diffusion.Core.Tests.Pipelines.Sdxl;

/// <summary>SDXL textual inversion: an embedding's clip_l vectors go to text_encoder, its clip_g vectors to text_encoder_2.</summary>
public sealed class XLTextualInversionTests
{
    private static readonly SessionSettings s_session = new() { IntraOpThreads = 1 };

    private static PipelineSettings WithEmbedding(string embedding) => new() { Session = s_session, TextualInversions = [embedding] };

    [Fact]
    public void An_sdxl_embedding_extends_both_encoders_as_in_the_export()
    {
        string embedding = GraphFixtures.Fixture("xl-adapters", "cat-toy.safetensors");
        var options = new GenerationOptions { Prompt = "a photo of cat-toy", Steps = 3, Seed = 4 };
        using StableDiffusionPipeline built = StableDiffusionPipeline.Load(GraphFixtures.Fixture("xl-safetensors"), WithEmbedding(embedding));
        using StableDiffusionPipeline exported = StableDiffusionPipeline.Load(GraphFixtures.Fixture("xl-onnx"), WithEmbedding(embedding));
        GenerationResult a = built.Generate(options);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(a.Latents, exported.Generate(options).Latents), 0f, Graphs.GraphFixtures.BuiltVersusExportLatents);

        using StableDiffusionPipeline plain = StableDiffusionPipeline.Load(GraphFixtures.Fixture("xl-onnx"), new PipelineSettings { Session = s_session });
        Assert.True(ReferenceTensors.MaxAbsDifference(plain.Generate(options).Latents, a.Latents) > 1e-2f);
    }

    [Fact]
    public void An_embedding_without_clip_g_is_refused_naming_the_tensor()
    {
        // An SD 1.x-style embedding (emb_params) given to an SDXL model.
        string path = SafeTensorsTestFile.Write("sd15-style.safetensors",
            """{"emb_params":{"dtype":"F32","shape":[1,4],"data_offsets":[0,16]}}""", SafeTensorsTestFile.Floats(1, 2, 3, 4));
        var error = Assert.Throws<WeightFileException>(() => StableDiffusionPipeline.Load(GraphFixtures.Fixture("xl-onnx"), WithEmbedding(path)));
        Assert.Equal("clip_l", error.Key);
        Assert.Contains("clip_g", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Vectors_of_the_wrong_width_for_an_encoder_are_refused()
    {
        // clip_l and clip_g swapped: 48-wide vectors for the 32-wide first encoder.
        string path = SafeTensorsTestFile.Write("swapped.safetensors",
            """{"clip_l":{"dtype":"F32","shape":[1,48],"data_offsets":[0,192]},"clip_g":{"dtype":"F32","shape":[1,32],"data_offsets":[192,320]}}""",
            new byte[320]);
        var error = Assert.Throws<WeightFileException>(() => StableDiffusionPipeline.Load(GraphFixtures.Fixture("xl-onnx"), WithEmbedding(path)));
        Assert.Contains("width 48", error.Message, StringComparison.Ordinal);
    }
}
