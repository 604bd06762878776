using Diffusion.Core.Tokenization;

namespace Diffusion.Core.Tests.Tokenization;

/// <summary>
/// WeightedPromptTokenizer against the AUTOMATIC1111 web UI's tokenize_line (modules/sd_hijack_clip.py, run by
/// tools/reference-data/prompts/generate_prompt_reference.py with its default comma_padding_backtrack 20).
/// </summary>
public sealed class WeightedPromptTokenizerTests
{
    private const int Bos = 49406;
    private const int Eos = 49407;
    private const int Comma = 267; // ",</w>"

    private static readonly Lazy<ClipTokenizer> s_tinySd = new(() => ClipTokenizer.FromDirectory(TokenizerFiles.TinySdDirectory));

    private static ClipTokenizer Tokenizer
    {
        get
        {
            _ = TokenizerFiles.TinySdDirectory;
            return s_tinySd.Value;
        }
    }

    [Theory]
    [MemberData(nameof(A1111PromptReference.ChunkCaseIndices), MemberType = typeof(A1111PromptReference))]
    public void MatchesTheWebUiChunks(int index)
    {
        var (prompt, tokens, multipliers, tokenCount) = A1111PromptReference.ChunkCase(index);

        PromptTokenChunks chunks = WeightedPromptTokenizer.Tokenize(Tokenizer, prompt);

        Assert.Equal(tokens.Length, chunks.ChunkCount);
        Assert.Equal(tokens.SelectMany(c => c).ToArray(), chunks.TokenIds.ToArray());
        Assert.Equal(multipliers.SelectMany(c => c).Select(m => (float)m).ToArray(), chunks.Weights.ToArray());
        Assert.Equal(tokenCount, chunks.TokenCount);
    }

    [Fact]
    public void A200TokenPromptTakesThreeChunks()
    {
        PromptTokenChunks chunks = WeightedPromptTokenizer.Tokenize(Tokenizer, string.Join(' ', Enumerable.Repeat("cat", 200)));

        Assert.Equal(3, chunks.ChunkCount);
        Assert.Equal(231, chunks.SequenceLength);
        Assert.Equal(200, chunks.TokenCount);
        int[] ids = chunks.TokenIds.ToArray();
        for (int chunk = 0; chunk < 3; chunk++)
        {
            Assert.Equal(Bos, ids[chunk * 77]);
            Assert.Equal(Eos, ids[chunk * 77 + 76]);
        }
        Assert.Equal(Eos, ids[2 * 77 + 51]); // 50 tokens in the last chunk, then end tokens
    }

    [Fact]
    public void AnEmptyPromptIsOneChunkOfStartAndEndTokens()
    {
        PromptTokenChunks chunks = WeightedPromptTokenizer.Tokenize(Tokenizer, "");

        Assert.Equal(1, chunks.ChunkCount);
        Assert.Equal([Bos, .. Enumerable.Repeat(Eos, 76)], chunks.TokenIds.ToArray());
        Assert.All(chunks.Weights.ToArray(), w => Assert.Equal(1f, w));
        Assert.Equal(0, chunks.TokenCount);
    }

    [Fact]
    public void AFullChunkMovesTheTextAfterItsLastCommaToTheNextChunk()
    {
        // 60 words, a comma (token 61), 20 words: the chunk fills at 75 tokens and the comma is 14 back, within 20.
        string prompt = string.Join(' ', Enumerable.Repeat("cat", 60)) + ", " + string.Join(' ', Enumerable.Repeat("dog", 20));

        int[] ids = WeightedPromptTokenizer.Tokenize(Tokenizer, prompt).TokenIds.ToArray();

        Assert.Equal(Comma, ids[61]);
        Assert.All(ids[62..77], id => Assert.Equal(Eos, id)); // padded after the comma
        int dog = ids[78];
        Assert.All(ids[78..98], id => Assert.Equal(dog, id)); // all 20 "dog"s in the second chunk
    }

    [Fact]
    public void CommaBacktrackZeroFillsChunksToTheEnd()
    {
        string prompt = string.Join(' ', Enumerable.Repeat("cat", 60)) + ", " + string.Join(' ', Enumerable.Repeat("dog", 20));

        int[] ids = WeightedPromptTokenizer.Tokenize(Tokenizer, prompt, commaPaddingBacktrack: 0).TokenIds.ToArray();

        Assert.NotEqual(Eos, ids[75]);
        Assert.Equal(ids[75], ids[79]); // "dog" on both sides of the chunk boundary
    }

    [Fact]
    public void BreakStartsANewChunk()
    {
        PromptTokenChunks chunks = WeightedPromptTokenizer.Tokenize(Tokenizer, "a cat BREAK a dog");
        PromptTokenChunks dog = WeightedPromptTokenizer.Tokenize(Tokenizer, "a dog");

        Assert.Equal(2, chunks.ChunkCount);
        Assert.Equal(dog.TokenIds.ToArray(), chunks.TokenIds[77..].ToArray());
    }

    [Fact]
    public void WeightsFollowTheTokensOfTheirText()
    {
        PromptTokenChunks chunks = WeightedPromptTokenizer.Tokenize(Tokenizer, "a (red:1.5) [cat]");

        Assert.Equal([1f, 1f, 1.5f, (float)(1 / 1.1), 1f], chunks.Weights[..5].ToArray());
        Assert.Equal(Tokenizer.EncodeWithoutSpecialTokens("a red cat"), chunks.TokenIds[1..4].ToArray());
    }

    [Fact]
    public void MinimumChunksAppendsEmptyChunks()
    {
        PromptTokenChunks chunks = WeightedPromptTokenizer.Tokenize(Tokenizer, "a cat", minimumChunks: 3);
        PromptTokenChunks empty = WeightedPromptTokenizer.Tokenize(Tokenizer, "");

        Assert.Equal(3, chunks.ChunkCount);
        Assert.Equal(2, chunks.TokenCount);
        Assert.Equal(empty.TokenIds.ToArray(), chunks.TokenIds[154..].ToArray());
    }

    [Fact]
    public void AnSd2TokenizerPadsAfterTheFirstEndTokenWithItsPaddingToken()
    {
        // SD 2.x pads with "!" (id 0); the web UI's process_tokens puts it after each chunk's first end token.
        string directory = TokenizerFiles.ClipDirectory;
        ClipTokenizer sd2 = ClipTokenizer.FromFiles(Path.Combine(directory, "vocab.json"), Path.Combine(directory, "merges.txt"),
            new ClipTokenizerOptions { PadToken = "!" });

        int[] ids = WeightedPromptTokenizer.Tokenize(sd2, "a cat", minimumChunks: 2).TokenIds.ToArray();

        Assert.Equal([Bos, .. sd2.EncodeWithoutSpecialTokens("a cat"), Eos], ids[..4]);
        Assert.All(ids[4..77], id => Assert.Equal(0, id));
        Assert.Equal(sd2.Encode("a cat").Ids, ids[..77]);
        Assert.Equal(sd2.Encode("").Ids, ids[77..]);
    }

    [Theory]
    [InlineData(0, 20, "minimumChunks")]
    [InlineData(1, -1, "commaPaddingBacktrack")]
    public void BadOptionsAreTypedErrors(int minimumChunks, int backtrack, string option)
    {
        var error = Assert.Throws<InvalidOptionException>(() => WeightedPromptTokenizer.Tokenize(Tokenizer, "a", minimumChunks, backtrack));

        Assert.Equal(option, error.OptionName);
    }
}
