using System.Buffers.Binary;
using Diffusion.Core.Tests.Models;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Tokenization;

namespace Diffusion.Core.Tests.TextEncoding;

/// <summary>
/// Clip skip as the AUTOMATIC1111 web UI does it (modules/sd_hijack_clip.py: for CLIP_stop_at_last_layers N &gt; 1,
/// <c>final_layer_norm(outputs.hidden_states[-N])</c>). Fixture: TestData/prompts/text-encoder-hidden-states.onnx, a
/// tiny CLIP-like text encoder (vocab 600, width 16, 3 layers) with outputs last_hidden_state, pooler_output and
/// hidden_states.0..3, and its torch references for one row of ids (tools/reference-data/prompts/make_clip_skip_text_encoder.py,
/// torch 1.13, onnx 1.12).
/// </summary>
public sealed class ClipSkipTests(LoadedModels models) : IClassFixture<LoadedModels>
{
    private const int Hidden = 16;

    [Fact]
    public void ClipSkipTwoIsTheFinalLayerNormOfTheSecondToLastHiddenState()
    {
        TextEncoder encoder = Load("text-encoder-hidden-states.onnx");
        float[] hidden = new float[77 * Hidden];

        encoder.Encode(ReadInts("clip_skip_ids.i32"), 1, 77, clipSkip: 2, hidden);

        // torch: model.final_layer_norm(hidden_states[-2])
        float maxDifference = ReferenceTensors.MaxAbsDifference(hidden, ReadFloats("clip_skip_2.f32"));
        TestContext.Current.SendDiagnosticMessage($"clip skip 2 max |diff| vs torch: {maxDifference:G3}");
        Assert.InRange(maxDifference, 0f, 1e-5f);
    }

    [Fact]
    public void ClipSkipOneIsLastHiddenState()
    {
        TextEncoder encoder = Load("text-encoder-hidden-states.onnx");
        int[] ids = ReadInts("clip_skip_ids.i32");
        float[] skipOne = new float[77 * Hidden];
        float[] last = new float[77 * Hidden];

        encoder.Encode(ids, 1, 77, clipSkip: 1, skipOne);
        encoder.Encode(ids, 1, 77, last);

        Assert.Equal(last, skipOne);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(skipOne, ReadFloats("clip_skip_last.f32")), 0f, 1e-5f);
    }

    [Fact]
    public void TheHiddenStatesAreListedInLayerOrder()
    {
        TextEncoder encoder = Load("text-encoder-hidden-states.onnx");

        Assert.Equal(["hidden_states.0", "hidden_states.1", "hidden_states.2", "hidden_states.3"], encoder.HiddenStateOutputs.Select(o => o.Name));
    }

    [Theory]
    [InlineData(5)]
    [InlineData(0)]
    public void ClipSkipOutsideTheModelsHiddenStatesIsAnInvalidOption(int clipSkip)
    {
        // 4 hidden states (embeddings + 3 layers): hidden_states[-4] is the last one Python's indexing reaches.
        TextEncoder encoder = Load("text-encoder-hidden-states.onnx");
        float[] hidden = new float[77 * Hidden];

        var error = Assert.Throws<InvalidOptionException>(() => encoder.Encode(ReadInts("clip_skip_ids.i32"), 1, 77, clipSkip, hidden));

        Assert.Equal("ClipSkip", error.OptionName);
    }

    [Fact]
    public void ADecomposedFinalLayerNormIsRefusedWithTheReason()
    {
        // The same model exported at opset 16: torch.onnx writes each LayerNorm as ReduceMean/Sub/Pow/Sqrt/Div/Mul/Add,
        // so last_hidden_state comes out of an Add node with no scale/bias/epsilon to read.
        TextEncoder encoder = Load("text-encoder-hidden-states-opset16.onnx");
        Assert.Equal(4, encoder.HiddenStateOutputs.Count);

        var error = Assert.Throws<InvalidOptionException>(() => encoder.RequireClipSkip(2));

        Assert.Equal("ClipSkip", error.OptionName);
        Assert.Contains("decomposed", error.Message, StringComparison.Ordinal);
        Assert.Contains("Add", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ThePromptEmbedderPassesClipSkipToTheEncoder()
    {
        // The tiny encoder takes ids modulo 600, so CLIP's tokenizer ids (start 49406, end 49407) are valid input.
        var tokenizer = ClipTokenizer.FromDirectory(SharedData.Require("models/tiny-sd/tokenizer"));
        TextEncoder encoder = Load("text-encoder-hidden-states.onnx");
        var embedder = new PromptEmbedder(tokenizer, encoder) { ClipSkip = 2 };
        float[] direct = new float[77 * Hidden];
        encoder.Encode(tokenizer.Encode("a cat on a mat").Ids, 1, 77, clipSkip: 2, direct);
        float[] lastLayer = new float[77 * Hidden];
        encoder.Encode(tokenizer.Encode("a cat on a mat").Ids, 1, 77, lastLayer);

        PromptEmbeddings embeddings = embedder.Encode("a cat on a mat", PromptSyntax.Plain);

        Assert.Equal(2, embedder.ClipSkip);
        Assert.Equal(direct, embeddings.Values);
        Assert.NotEqual(lastLayer, embeddings.Values);
    }

    [Fact]
    public void ARejectedClipSkipLeavesTheEmbedderUnchanged()
    {
        var tokenizer = ClipTokenizer.FromDirectory(SharedData.Require("models/tiny-sd/tokenizer"));
        var embedder = new PromptEmbedder(tokenizer, Load("text-encoder-hidden-states.onnx")) { ClipSkip = 3 };

        Assert.Throws<InvalidOptionException>(() => embedder.ClipSkip = 5);

        Assert.Equal(3, embedder.ClipSkip);
    }

    private TextEncoder Load(string file) => models.Get(TestDataPath(file), p => TextEncoder.Load(p));

    private static string TestDataPath(string file) => Path.Combine(AppContext.BaseDirectory, "TestData", "prompts", file);

    private static float[] ReadFloats(string file)
    {
        byte[] bytes = File.ReadAllBytes(TestDataPath(file));
        var values = new float[bytes.Length / 4];
        for (int i = 0; i < values.Length; i++)
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4));
        return values;
    }

    private static int[] ReadInts(string file)
    {
        byte[] bytes = File.ReadAllBytes(TestDataPath(file));
        var values = new int[bytes.Length / 4];
        for (int i = 0; i < values.Length; i++)
            values[i] = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(i * 4));
        return values;
    }
}
