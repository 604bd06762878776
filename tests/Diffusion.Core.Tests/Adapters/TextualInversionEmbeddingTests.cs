using Diffusion.Core.Adapters;
using Diffusion.Core.Tests.Weights;
using Diffusion.Core.Weights;

namespace Diffusion.Core.Tests.Adapters;

public class TextualInversionEmbeddingTests
{
    private const string TokenTable = "text_model.embeddings.token_embedding.weight";

    [Fact]
    public void A1111EmbParamsWithTwoVectorsBecomeTwoTokensNamedAfterTheFile()
    {
        TextualInversionEmbedding embedding = TextualInversionEmbedding.Load(LoraFixtures.PathOf("ti_two_vectors.safetensors"));

        Assert.Equal("ti_two_vectors", embedding.Token);
        Assert.Equal(["ti_two_vectors", "ti_two_vectors_1"], embedding.Tokens);
        Assert.Equal(2, embedding.VectorCount);
        Assert.Equal(16, embedding.Width);
        Assert.Equal(LoraFixtures.ReadF32("ti_two_vectors.f32"), embedding.Vectors.ToArray());
    }

    [Fact]
    public void ADiffusersSingleKeyFileTakesItsTokenFromTheKey()
    {
        TextualInversionEmbedding embedding = TextualInversionEmbedding.Load(LoraFixtures.PathOf("ti_diffusers.safetensors"));

        Assert.Equal("<cat-toy>", embedding.Token);
        Assert.Equal(1, embedding.VectorCount);
        Assert.Equal(LoraFixtures.ReadF32("ti_two_vectors.f32")[..16], embedding.Vectors.ToArray());
    }

    [Fact]
    public void AnExplicitTokenNameWins()
    {
        TextualInversionEmbedding embedding = TextualInversionEmbedding.Load(LoraFixtures.PathOf("ti_two_vectors.safetensors"), "mytoken");

        Assert.Equal(["mytoken", "mytoken_1"], embedding.Tokens);
    }

    [Fact]
    public void NewTokensGetIdsAfterTheVocabularyAndTheTextEncoderOutputMatchesTorch()
    {
        // te_ti_out.f32: torch text encoder with its nn.Embedding enlarged to 1002 rows, run on ids [0, 1000, 1001, 999, 3, 1].
        TextualInversionEmbedding embedding = TextualInversionEmbedding.Load(LoraFixtures.PathOf("ti_two_vectors.safetensors"), "mytoken");
        using WeightOverrides overrides = TextualInversionEmbedding.CreateOverrides(LoraFixtures.TextEncoder, [embedding],
            out IReadOnlyList<TextualInversionToken> tokens);

        float[] output = LoraFixtures.RunTextEncoder(LoraFixtures.TextEncoder, LoraFixtures.ReadI32("te_ti_ids.i32"), overrides);

        Assert.Equal([new TextualInversionToken("mytoken", 1000), new TextualInversionToken("mytoken_1", 1001)], tokens);
        Assert.True(LoraFixtures.MaxAbsDifference(output, LoraFixtures.ReadF32("te_ti_out.f32")) < 1e-4f);
    }

    [Fact]
    public void OnlyTheAppendedRowsDifferFromTheOriginalTable()
    {
        TextualInversionEmbedding embedding = TextualInversionEmbedding.Load(LoraFixtures.PathOf("ti_two_vectors.safetensors"));
        OnnxModelGraph graph = OnnxWeightReader.Read(LoraFixtures.TextEncoder);
        float[] original = graph.ReadAsFloat32(graph.Initializers[TokenTable]);

        using WeightOverrides overrides = TextualInversionEmbedding.CreateOverrides(LoraFixtures.TextEncoder, [embedding], out _);
        float[] enlarged = overrides.ReadAsFloat32(TokenTable);

        Assert.Equal([TokenTable], overrides.Names);
        Assert.Equal(1002 * 16, enlarged.Length);
        Assert.Equal(original, enlarged[..(1000 * 16)]);
        Assert.Equal(embedding.Vectors.ToArray(), enlarged[(1000 * 16)..]);
    }

    [Fact]
    public void AnEmbeddingOfAnotherWidthIsRefused()
    {
        string path = SafeTensorsTestFile.Write("wide.safetensors", """{"emb_params":{"dtype":"F32","shape":[1,4],"data_offsets":[0,16]}}""",
            SafeTensorsTestFile.Floats(1, 2, 3, 4));
        TextualInversionEmbedding embedding = TextualInversionEmbedding.Load(path);

        var error = Assert.Throws<WeightFileException>(() => TextualInversionEmbedding.CreateOverrides(LoraFixtures.TextEncoder, [embedding], out _));

        Assert.Contains("width 4 differs from the text encoder's 16", error.Message);
    }

    [Fact]
    public void TheSameTokenTwiceIsRefused()
    {
        TextualInversionEmbedding embedding = TextualInversionEmbedding.Load(LoraFixtures.PathOf("ti_diffusers.safetensors"));

        var error = Assert.Throws<WeightFileException>(() => TextualInversionEmbedding.CreateOverrides(LoraFixtures.TextEncoder, [embedding, embedding], out _));

        Assert.Equal("<cat-toy>", error.Key);
    }

    [Fact]
    public void ALoraAndAnEmbeddingCombineOnOneSession()
    {
        // Ids without the new tokens: the result must be the LoRA-merged encoder's (te_kohya_1.0_out.f32, torch).
        TextualInversionEmbedding embedding = TextualInversionEmbedding.Load(LoraFixtures.PathOf("ti_two_vectors.safetensors"));
        using WeightOverrides inversion = TextualInversionEmbedding.CreateOverrides(LoraFixtures.TextEncoder, [embedding], out _);
        using WeightOverrides lora = LoraMerger.CreateOverrides(LoraFixtures.TextEncoder, LoraTarget.TextEncoder,
            [new LoraWeight(LoraAdapter.Load(LoraFixtures.PathOf("te_kohya.safetensors")), 1f)], out _);
        using var options = new Microsoft.ML.OnnxRuntime.SessionOptions();

        WeightOverrides.ApplyTo(options, [lora, inversion]);

        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(LoraFixtures.TextEncoder, options);
        using var ids = Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(LoraFixtures.ReadI32("te_ids.i32"), [1, 6]);
        using var runOptions = new Microsoft.ML.OnnxRuntime.RunOptions();
        using var outputs = session.Run(runOptions, ["input_ids"], [ids], ["last_hidden_state"]);
        float[] output = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        Assert.True(LoraFixtures.MaxAbsDifference(output, LoraFixtures.ReadF32("te_kohya_1.0_out.f32")) < 1e-4f);
    }

    [Fact]
    public void TheSameInitializerInTwoOverrideSetsIsRefused()
    {
        TextualInversionEmbedding embedding = TextualInversionEmbedding.Load(LoraFixtures.PathOf("ti_diffusers.safetensors"));
        using WeightOverrides first = TextualInversionEmbedding.CreateOverrides(LoraFixtures.TextEncoder, [embedding], out _);
        using WeightOverrides second = TextualInversionEmbedding.CreateOverrides(LoraFixtures.TextEncoder, [embedding], out _);
        using var options = new Microsoft.ML.OnnxRuntime.SessionOptions();

        var error = Assert.Throws<ArgumentException>(() => WeightOverrides.ApplyTo(options, [first, second]));

        Assert.Contains(TokenTable, error.Message);
    }
}
