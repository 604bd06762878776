using Diffusion.Core.Tests.Models;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Tokenization;

namespace Diffusion.Core.Tests.TextEncoding;

/// <summary>
/// PromptEmbedder on tiny-sd's text encoder (hidden size 32): diffusers' plain encoding, and the AUTOMATIC1111 web
/// UI's weighted, chunked encoding (modules/sd_hijack_clip.py with sd_emphasis.EmphasisOriginal).
/// </summary>
public sealed class PromptEmbedderTests(LoadedModels models) : IClassFixture<LoadedModels>
{
    private const int Hidden = 32;
    private const int ChunkValues = 77 * Hidden;

    private static readonly Lazy<ClipTokenizer> s_tokenizer = new(() => ClipTokenizer.FromDirectory(SharedData.Require("models/tiny-sd/tokenizer")));

    [Fact]
    public void PlainIsExactlyTheTokenizerAndTheEncoder()
    {
        PromptEmbedder embedder = CreateEmbedder();
        float[] direct = new float[ChunkValues];
        embedder.TextEncoder.Encode(embedder.Tokenizer.Encode("a (cat) on a mat").Ids, 1, 77, direct);

        PromptEmbeddings plain = embedder.Encode("a (cat) on a mat", PromptSyntax.Plain);

        Assert.Equal(direct, plain.Values);
        Assert.Equal(77, plain.SequenceLength);
        Assert.Equal(Hidden, plain.HiddenSize);
        Assert.Equal(1, plain.ChunkCount);
        Assert.False(plain.Truncated);
    }

    [Fact]
    public void PlainTruncatesLongPromptsAndSaysSo()
    {
        PromptEmbeddings plain = CreateEmbedder().Encode(Words("cat", 100), PromptSyntax.Plain);

        Assert.Equal(77, plain.SequenceLength);
        Assert.True(plain.Truncated);
        Assert.Equal(25, plain.DroppedTokenCount);
    }

    [Theory]
    [InlineData("a photograph of an astronaut riding a horse")]
    [InlineData("")]
    public void AShortPromptWithoutSyntaxIsTheSameInBothModes(string prompt)
    {
        PromptEmbedder embedder = CreateEmbedder();

        PromptEmbeddings plain = embedder.Encode(prompt, PromptSyntax.Plain);
        PromptEmbeddings weighted = embedder.Encode(prompt, PromptSyntax.Weighted);

        Assert.Equal(plain.Values, weighted.Values);
    }

    [Fact]
    public void A200TokenPromptIsThreeChunksEncodedOneByOne()
    {
        PromptEmbedder embedder = CreateEmbedder();
        PromptTokenChunks chunks = WeightedPromptTokenizer.Tokenize(embedder.Tokenizer, Words("cat", 200));

        PromptEmbeddings weighted = embedder.Encode(Words("cat", 200), PromptSyntax.Weighted);

        Assert.Equal(3, weighted.ChunkCount);
        Assert.Equal(231, weighted.SequenceLength);
        Assert.Equal(231 * Hidden, weighted.Values.Length);
        Assert.False(weighted.Truncated);
        for (int chunk = 0; chunk < 3; chunk++)
        {
            float[] alone = new float[ChunkValues];
            embedder.TextEncoder.Encode(chunks.TokenIds.Slice(chunk * 77, 77), 1, 77, alone);
            Assert.InRange(ReferenceTensors.MaxAbsDifference(weighted.Values.AsSpan(chunk * ChunkValues, ChunkValues), alone), 0f, 1e-5f);
        }
    }

    [Fact]
    public void WeightsScaleTheWeightedTokensThenTheChunkMeanIsRestored()
    {
        // "a (red:1.5) [cat]" has the tokens of "a red cat": z = encoder output, w = [1, 1, 1.5, 1/1.1, 1, ...];
        // the web UI's EmphasisOriginal gives z * w * (mean(z) / mean(z * w)), the means over the chunk's 77 x 32
        // values. tiny-sd's final layer norm has zero bias, so every row of z has mean ~0 and the ratio of the two
        // means is float rounding noise (as it would be in torch): check the shape z * w * c and the restored mean
        // here, and the ratio itself on well-conditioned numbers in ApplyWeightsIsTheWebUiEmphasis.
        PromptEmbedder embedder = CreateEmbedder();
        float[] z = embedder.Encode("a red cat", PromptSyntax.Plain).Values;
        float[] w = [.. Enumerable.Repeat(1f, 77)];
        w[2] = 1.5f;
        w[3] = (float)(1 / 1.1);

        float[] weighted = embedder.Encode("a (red:1.5) [cat]", PromptSyntax.Weighted).Values;

        int largest = Array.IndexOf(z, z.MaxBy(Math.Abs));
        double c = weighted[largest] / ((double)z[largest] * w[largest / Hidden]);
        TestContext.Current.SendDiagnosticMessage($"mean(z) = {z.Average(v => (double)v):G3}, ratio = {c:G6}");
        for (int i = 0; i < z.Length; i++)
            Assert.Equal(z[i] * w[i / Hidden] * c, weighted[i], 1e-5);
        Assert.Equal(z.Sum(v => (double)v), weighted.Sum(v => (double)v), 1e-4);
        Assert.NotEqual(z[2 * Hidden] * c, weighted[2 * Hidden], 1e-3); // the weighted tokens did change
    }

    [Fact]
    public void ApplyWeightsIsTheWebUiEmphasis()
    {
        // A chunk of 77 x 4 values 1 + (t + h) / 100, weights 2 at token 1 and 0.5 at token 5, 1 elsewhere. By hand:
        // z' = z * w * (mean(z) / mean(z * w)).
        const int hidden = 4;
        float[] chunk = new float[77 * hidden];
        for (int i = 0; i < chunk.Length; i++)
            chunk[i] = 1f + (i / hidden + i % hidden) / 100f;
        float[] weights = [.. Enumerable.Repeat(1f, 77)];
        weights[1] = 2f;
        weights[5] = 0.5f;
        double originalMean = chunk.Average(v => (double)v);
        double newMean = chunk.Select((v, i) => (double)v * weights[i / hidden]).Average();
        double[] expected = [.. chunk.Select((v, i) => v * weights[i / hidden] * (originalMean / newMean))];

        PromptEmphasis.ApplyWeights(chunk, weights, hidden);

        for (int i = 0; i < chunk.Length; i++)
            Assert.Equal(expected[i], chunk[i], 1e-6);
        Assert.Equal(originalMean, chunk.Average(v => (double)v), 1e-6);
    }

    [Fact]
    public void ApplyWeightsLeavesAnUnweightedChunkUntouched()
    {
        float[] chunk = [.. Enumerable.Range(0, 77 * 2).Select(i => MathF.Sin(i))];
        float[] before = (float[])chunk.Clone();

        PromptEmphasis.ApplyWeights(chunk, [.. Enumerable.Repeat(1f, 77)], 2);

        Assert.Equal(before, chunk);
    }

    [Fact]
    public void ANegativePromptIsPaddedWithEmptyChunksToThePromptsLength()
    {
        PromptEmbedder embedder = CreateEmbedder();
        float[] empty = embedder.Encode("", PromptSyntax.Plain).Values;
        float[] blurry = embedder.Encode("blurry", PromptSyntax.Weighted).Values;

        var (conditional, unconditional) = embedder.EncodePair(Words("cat", 200), "blurry", PromptSyntax.Weighted);

        Assert.Equal(231, conditional.SequenceLength);
        Assert.Equal(231, unconditional.SequenceLength);
        Assert.Equal(3, unconditional.ChunkCount);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(unconditional.Values.AsSpan(0, ChunkValues), blurry), 0f, 1e-5f);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(unconditional.Values.AsSpan(ChunkValues, ChunkValues), empty), 0f, 1e-5f);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(unconditional.Values.AsSpan(2 * ChunkValues, ChunkValues), empty), 0f, 1e-5f);
    }

    [Fact]
    public void AShorterPromptIsPaddedToTheNegativePromptsLength()
    {
        var (conditional, unconditional) = CreateEmbedder().EncodePair("a cat", Words("blurry", 80), PromptSyntax.Weighted);

        Assert.Equal(2, conditional.ChunkCount);
        Assert.Equal(154, conditional.SequenceLength);
        Assert.Equal(154, unconditional.SequenceLength);
    }

    [Fact]
    public void PlainPairsAreOneWindowEach()
    {
        var (conditional, unconditional) = CreateEmbedder().EncodePair(Words("cat", 200), "", PromptSyntax.Plain);

        Assert.Equal(77, conditional.SequenceLength);
        Assert.Equal(77, unconditional.SequenceLength);
        Assert.True(conditional.Truncated);
    }

    [Fact]
    public void BreakStartsANewChunk()
    {
        PromptEmbedder embedder = CreateEmbedder();
        float[] dog = embedder.Encode("a dog", PromptSyntax.Weighted).Values;

        PromptEmbeddings both = embedder.Encode("a cat BREAK a dog", PromptSyntax.Weighted);

        Assert.Equal(2, both.ChunkCount);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(both.Values.AsSpan(ChunkValues), dog), 0f, 1e-5f);
    }

    [Fact]
    public void EscapedBracketsAreLiteralText()
    {
        PromptEmbedder embedder = CreateEmbedder();

        PromptEmbeddings escaped = embedder.Encode("a \\(cat\\) \\[dog\\]", PromptSyntax.Weighted);
        PromptEmbeddings plain = embedder.Encode("a (cat) [dog]", PromptSyntax.Plain);

        Assert.Equal(plain.Values, escaped.Values);
    }

    [Fact]
    public void MinimumChunksPadsWithTheEmptyPrompt()
    {
        PromptEmbedder embedder = CreateEmbedder();
        float[] empty = embedder.Encode("", PromptSyntax.Plain).Values;

        PromptEmbeddings padded = embedder.Encode("a cat", PromptSyntax.Plain, minimumChunks: 2);

        Assert.Equal(154, padded.SequenceLength);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(padded.Values.AsSpan(ChunkValues), empty), 0f, 1e-5f);
    }

    [Fact]
    public void AFixedBatchEncoderRunsTheChunksInGroupsOfItsBatch()
    {
        // TestData/prompts/text-encoder-fixed-batch-2.onnx (tools/reference-data/prompts): input_ids fixed at [2,77],
        // each id's output row is table[id % 16] with table[i, j] = i + j / 10. Three chunks: a full pair, then a
        // pair filled up with a copy of the last chunk.
        _ = SharedData.Require("models/tiny-sd/tokenizer");
        using TextEncoder encoder = TextEncoder.Load(Path.Combine(AppContext.BaseDirectory, "TestData", "prompts", "text-encoder-fixed-batch-2.onnx"));
        var embedder = new PromptEmbedder(s_tokenizer.Value, encoder);
        string prompt = Words("cat", 160) + " dog";
        int[] ids = WeightedPromptTokenizer.Tokenize(embedder.Tokenizer, prompt).TokenIds.ToArray();

        PromptEmbeddings embeddings = embedder.Encode(prompt, PromptSyntax.Weighted);

        Assert.Equal(3, embeddings.ChunkCount);
        Assert.Equal(4, embeddings.HiddenSize);
        for (int t = 0; t < ids.Length; t++)
        {
            for (int j = 0; j < 4; j++)
                Assert.Equal((float)(ids[t] % 16 + j / 10.0), embeddings.Values[t * 4 + j]);
        }
    }

    [Fact]
    public void ClipSkipNeedsAnExportWithNormalisedLayerOutputs()
    {
        // tiny-sd's encoder exports last_hidden_state and pooler_output only.
        PromptEmbedder embedder = CreateEmbedder();
        Assert.Empty(embedder.TextEncoder.HiddenStateOutputs);

        var error = Assert.Throws<InvalidOptionException>(() => embedder.ClipSkip = 2);

        Assert.Equal("ClipSkip", error.OptionName);
        Assert.Contains("last_hidden_state, pooler_output", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, embedder.ClipSkip);
    }

    [Fact]
    public void ClipSkipOneIsTheDefaultAndAccepted()
    {
        PromptEmbedder embedder = CreateEmbedder();

        embedder.ClipSkip = 1;

        Assert.Equal(1, embedder.ClipSkip);
        Assert.Throws<InvalidOptionException>(() => embedder.ClipSkip = 0);
    }

    [Theory]
    [InlineData(PromptSyntax.Plain)]
    [InlineData(PromptSyntax.Weighted)]
    public void MinimumChunksBelowOneIsATypedError(PromptSyntax syntax)
    {
        var error = Assert.Throws<InvalidOptionException>(() => CreateEmbedder().Encode("a cat", syntax, minimumChunks: 0));

        Assert.Equal("minimumChunks", error.OptionName);
    }

    private static string Words(string word, int count) => string.Join(' ', Enumerable.Repeat(word, count));

    private PromptEmbedder CreateEmbedder()
    {
        string path = SharedData.Require("models/tiny-sd/text_encoder/model.onnx");
        TextEncoder encoder = models.Get(path, p => TextEncoder.Load(p));
        _ = SharedData.Require("models/tiny-sd/tokenizer"); // skip (or fail under CI) before touching the lazy value
        return new PromptEmbedder(s_tokenizer.Value, encoder);
    }
}
