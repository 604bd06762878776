using System.Text.Json;
using Diffusion.Core.Tokenization;

namespace Diffusion.Core.Tests.Tokenization;

/// <summary>Padding, truncation, configuration, errors and added tokens of <see cref="ClipTokenizer"/>.</summary>
public sealed class ClipTokenizerTests
{
    private const int Bos = 49406;
    private const int Eos = 49407;

    // shared/models/clip-tokenizer/README.md and OpenAI CLIP: "a photo of a cat" -> 49406, 320, 1125, 539, 320, 2368, 49407.
    private static readonly int[] s_photoOfACat = [Bos, 320, 1125, 539, 320, 2368, Eos];

    [Fact]
    public void EncodeGivesStartTokenPromptEndTokenThenEndTokenPadding()
    {
        var encoded = TokenizerFiles.Clip.Encode("a photo of a cat");

        Assert.Equal(77, encoded.Ids.Length);
        Assert.Equal(s_photoOfACat, encoded.Ids[..7]);
        Assert.All(encoded.Ids[7..], id => Assert.Equal(Eos, id));
        Assert.Equal(7, encoded.TokenCount);
        Assert.False(encoded.Truncated);
        Assert.Equal(0, encoded.DroppedTokenCount);
    }

    [Fact]
    public void TokenizerPropertiesAreClipsIds()
    {
        var tokenizer = TokenizerFiles.Clip;

        Assert.Equal(Bos, tokenizer.BosTokenId);
        Assert.Equal(Eos, tokenizer.EosTokenId);
        Assert.Equal(Eos, tokenizer.PadTokenId);
        Assert.Equal(77, tokenizer.MaxLength);
        Assert.Equal(49408, tokenizer.VocabularySize);
    }

    [Fact]
    public void EmptyPromptIsStartAndEndTokenOnly()
    {
        var encoded = TokenizerFiles.Clip.Encode("");

        Assert.Equal([Bos, Eos, Eos], encoded.Ids[..3]);
        Assert.Equal(2, encoded.TokenCount);
    }

    [Fact]
    public void LongPromptKeepsFirst75TokensAndReportsTheDroppedOnes()
    {
        // "cat" is one token (2368), so 100 cats are 100 tokens: 75 kept, 25 dropped.
        string prompt = string.Join(' ', Enumerable.Repeat("cat", 100));

        var encoded = TokenizerFiles.Clip.Encode(prompt);

        Assert.True(encoded.Truncated);
        Assert.Equal(25, encoded.DroppedTokenCount);
        Assert.Equal(77, encoded.TokenCount);
        Assert.Equal(Bos, encoded.Ids[0]);
        Assert.All(encoded.Ids[1..76], id => Assert.Equal(2368, id));
        Assert.Equal(Eos, encoded.Ids[76]);
    }

    [Fact]
    public void PromptOfExactly75TokensIsNotTruncated()
    {
        string prompt = string.Join(' ', Enumerable.Repeat("cat", 75));

        var encoded = TokenizerFiles.Clip.Encode(prompt);

        Assert.False(encoded.Truncated);
        Assert.Equal(77, encoded.TokenCount);
        Assert.Equal(Eos, encoded.Ids[76]);
    }

    [Fact]
    public void SpanEncodeWritesTheSameIdsAndReportsTruncation()
    {
        var tokenizer = TokenizerFiles.Clip;
        string prompt = string.Join(' ', Enumerable.Repeat("cat", 80));
        var destination = new int[77];

        int tokenCount = tokenizer.Encode(prompt, destination, out bool truncated);

        Assert.Equal(77, tokenCount);
        Assert.True(truncated);
        Assert.Equal(tokenizer.Encode(prompt).Ids, destination);
    }

    [Fact]
    public void SpanEncodeWritesOnlyMaxLengthIds()
    {
        var destination = Enumerable.Repeat(-1, 80).ToArray();

        int tokenCount = TokenizerFiles.Clip.Encode("a photo of a cat", destination, out bool truncated);

        Assert.Equal(7, tokenCount);
        Assert.False(truncated);
        Assert.Equal(s_photoOfACat, destination[..7]);
        Assert.Equal([-1, -1, -1], destination[77..]);
    }

    [Fact]
    public void SpanEncodeRejectsADestinationShorterThanMaxLength()
    {
        var error = Assert.Throws<InvalidOptionException>(() => TokenizerFiles.Clip.Encode("cat", new int[76], out _));

        Assert.Equal("destination", error.OptionName);
    }

    [Fact]
    public void EncodeWithoutSpecialTokensNeitherAddsSpecialTokensNorTruncates()
    {
        string prompt = string.Join(' ', Enumerable.Repeat("cat", 100));

        var ids = TokenizerFiles.Clip.EncodeWithoutSpecialTokens(prompt);

        Assert.Equal(100, ids.Count);
        Assert.All(ids, id => Assert.Equal(2368, id));
    }

    [Fact]
    public void DecodeJoinsTokensWithEndOfWordSpacesAsOpenAIDoes()
    {
        Assert.Equal("<|startoftext|>a photo of a cat <|endoftext|>", TokenizerFiles.Clip.Decode(s_photoOfACat));
    }

    [Fact]
    public void DecodeRestoresMultiByteCharacters()
    {
        var tokenizer = TokenizerFiles.Clip;
        var ids = tokenizer.EncodeWithoutSpecialTokens("caf\u00e9 \U0001f431 \u732b");

        Assert.Equal("caf\u00e9 \U0001f431 \u732b ", tokenizer.Decode(ids.ToArray()));
    }

    [Fact]
    public void DecodeRejectsAnIdOutsideTheVocabulary()
    {
        var error = Assert.Throws<InvalidOptionException>(() => TokenizerFiles.Clip.Decode([320, 49408]));

        Assert.Equal("ids", error.OptionName);
    }

    [Fact]
    public void LoneSurrogateIsReadAsReplacementCharacter()
    {
        // ftfy's fix_surrogates turns an unpaired surrogate into U+FFFD.
        var tokenizer = TokenizerFiles.Clip;

        Assert.Equal(tokenizer.EncodeWithoutSpecialTokens("a\uFFFDb"), tokenizer.EncodeWithoutSpecialTokens("a\uD800b"));
    }

    [Fact]
    public void EncodingFromManyThreadsGivesTheSameIds()
    {
        var tokenizer = ClipTokenizer.FromFiles(
            Path.Combine(TokenizerFiles.ClipDirectory, "vocab.json"), Path.Combine(TokenizerFiles.ClipDirectory, "merges.txt"));
        var cases = ClipReferenceData.Cases;
        var results = new IReadOnlyList<int>[cases.Count];

        Parallel.For(0, cases.Count, i => results[i] = tokenizer.EncodeWithoutSpecialTokens(cases[i].Prompt));

        for (int i = 0; i < cases.Count; i++)
            Assert.Equal(cases[i].Ids, results[i]);
    }

    [Fact]
    public void TinySdFolderPadsWithEndOfText()
    {
        // tiny-sd/tokenizer/tokenizer_config.json: pad_token "<|endoftext|>", model_max_length 77.
        var tokenizer = ClipTokenizer.FromDirectory(TokenizerFiles.TinySdDirectory);

        Assert.Equal(Eos, tokenizer.PadTokenId);
        Assert.Equal(77, tokenizer.MaxLength);
        Assert.Equal(s_photoOfACat, tokenizer.Encode("a photo of a cat").Ids[..7]);
        Assert.Equal(Eos, tokenizer.Encode("a photo of a cat").Ids[76]);
    }

    [Fact]
    public void StableDiffusion2FolderPadsWithExclamationMark()
    {
        // SD 2.x tokenizer/special_tokens_map.json names "!" (id 0) as pad_token.
        using var folder = new TemporaryTokenizerDirectory();
        folder.Write("tokenizer_config.json", """{"model_max_length": 77, "pad_token": "!", "tokenizer_class": "CLIPTokenizer"}""");
        folder.Write("special_tokens_map.json", """{"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "!", "unk_token": "<|endoftext|>"}""");

        var tokenizer = ClipTokenizer.FromDirectory(folder.Path);
        var encoded = tokenizer.Encode("a photo of a cat");

        Assert.Equal(0, tokenizer.PadTokenId);
        Assert.Equal(s_photoOfACat, encoded.Ids[..7]);
        Assert.All(encoded.Ids[7..], id => Assert.Equal(0, id));
    }

    [Fact]
    public void SpecialTokenGivenAsAddedTokenObjectIsRead()
    {
        using var folder = new TemporaryTokenizerDirectory();
        folder.Write("tokenizer_config.json",
            """{"pad_token": {"__type": "AddedToken", "content": "!", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false}}""");

        Assert.Equal(0, ClipTokenizer.FromDirectory(folder.Path).PadTokenId);
    }

    [Fact]
    public void SpecialTokensMapWinsOverTokenizerConfig()
    {
        // As in Hugging Face's from_pretrained, special_tokens_map.json overrides tokenizer_config.json.
        using var folder = new TemporaryTokenizerDirectory();
        folder.Write("tokenizer_config.json", """{"pad_token": "<|endoftext|>"}""");
        folder.Write("special_tokens_map.json", """{"pad_token": "!"}""");

        Assert.Equal(0, ClipTokenizer.FromDirectory(folder.Path).PadTokenId);
    }

    [Fact]
    public void FolderWithoutConfigFilesUsesTheDefaults()
    {
        using var folder = new TemporaryTokenizerDirectory();

        var tokenizer = ClipTokenizer.FromDirectory(folder.Path);

        Assert.Equal((Bos, Eos, Eos, 77), (tokenizer.BosTokenId, tokenizer.EosTokenId, tokenizer.PadTokenId, tokenizer.MaxLength));
    }

    [Fact]
    public void ModelMaxLengthComesFromTokenizerConfig()
    {
        using var folder = new TemporaryTokenizerDirectory();
        folder.Write("tokenizer_config.json", """{"model_max_length": 10}""");

        var encoded = ClipTokenizer.FromDirectory(folder.Path).Encode("a photo of a cat in a garden with flowers");

        Assert.Equal(10, encoded.Ids.Length);
        Assert.Equal(Eos, encoded.Ids[9]);
        Assert.True(encoded.Truncated);
    }

    [Fact]
    public void HuggingFaceNoLimitModelMaxLengthFallsBackTo77()
    {
        // Hugging Face writes int(1e30) (VERY_LARGE_INTEGER) when a model sets no length.
        using var folder = new TemporaryTokenizerDirectory();
        folder.Write("tokenizer_config.json", """{"model_max_length": 1000000000000000019884624838656}""");

        Assert.Equal(77, ClipTokenizer.FromDirectory(folder.Path).MaxLength);
    }

    [Fact]
    public void FolderCanUseHuggingFaceCleanup()
    {
        // "a < b &amp; c": ftfy keeps "&amp;" on a line with '<'; only OpenAI's html.unescape then decodes it.
        var openAI = ClipTokenizer.FromDirectory(TokenizerFiles.TinySdDirectory);
        var huggingFace = ClipTokenizer.FromDirectory(TokenizerFiles.TinySdDirectory, ClipTextCleanup.HuggingFace);

        Assert.Equal(openAI.EncodeWithoutSpecialTokens("a < b & c"), openAI.EncodeWithoutSpecialTokens("a < b &amp; c"));
        Assert.Equal(openAI.EncodeWithoutSpecialTokens("a < b &amp; c"), huggingFace.EncodeWithoutSpecialTokens("a < b & c"));
        Assert.NotEqual(openAI.EncodeWithoutSpecialTokens("a < b &amp; c"), huggingFace.EncodeWithoutSpecialTokens("a < b &amp; c"));
    }

    [Fact]
    public void PadTokenOptionSelectsThePadding()
    {
        var tokenizer = ClipTokenizer.FromFiles(
            Path.Combine(TokenizerFiles.ClipDirectory, "vocab.json"), Path.Combine(TokenizerFiles.ClipDirectory, "merges.txt"),
            new ClipTokenizerOptions { PadToken = "!" });

        Assert.Equal(0, tokenizer.PadTokenId);
        Assert.Equal(0, tokenizer.Encode("cat").Ids[76]);
    }

    [Fact]
    public void PadTokenOutsideTheVocabularyIsAnOptionError()
    {
        var error = Assert.Throws<InvalidOptionException>(() => ClipTokenizer.FromFiles(
            Path.Combine(TokenizerFiles.ClipDirectory, "vocab.json"), Path.Combine(TokenizerFiles.ClipDirectory, "merges.txt"),
            new ClipTokenizerOptions { PadToken = "<pad>" }));

        Assert.Equal(nameof(ClipTokenizerOptions.PadToken), error.OptionName);
    }

    [Fact]
    public void MaxLengthBelowTwoIsAnOptionError()
    {
        var error = Assert.Throws<InvalidOptionException>(() => ClipTokenizer.FromFiles(
            Path.Combine(TokenizerFiles.ClipDirectory, "vocab.json"), Path.Combine(TokenizerFiles.ClipDirectory, "merges.txt"),
            new ClipTokenizerOptions { MaxLength = 1 }));

        Assert.Equal(nameof(ClipTokenizerOptions.MaxLength), error.OptionName);
    }

    [Fact]
    public void PadTokenOutsideTheVocabularyInAConfigFileNamesTheFile()
    {
        using var folder = new TemporaryTokenizerDirectory();
        string config = folder.Write("tokenizer_config.json", """{"pad_token": "<pad>"}""");

        var error = Assert.Throws<ModelLoadException>(() => ClipTokenizer.FromDirectory(folder.Path));

        Assert.Contains(config, error.Path);
    }

    [Fact]
    public void MissingVocabFileIsAModelLoadErrorNamingIt()
    {
        using var folder = new TemporaryTokenizerDirectory(copyVocab: false);

        var error = Assert.Throws<ModelLoadException>(() => ClipTokenizer.FromDirectory(folder.Path));

        Assert.Equal(folder.VocabPath, error.Path);
    }

    [Fact]
    public void MissingMergesFileIsAModelLoadErrorNamingIt()
    {
        using var folder = new TemporaryTokenizerDirectory(copyMerges: false);

        var error = Assert.Throws<ModelLoadException>(() => ClipTokenizer.FromFiles(folder.VocabPath, folder.MergesPath));

        Assert.Equal(folder.MergesPath, error.Path);
    }

    [Fact]
    public void MissingFolderIsAModelLoadErrorNamingIt()
    {
        string missing = Path.Combine(Path.GetTempPath(), "no-such-tokenizer-" + Guid.NewGuid().ToString("N"));

        var error = Assert.Throws<ModelLoadException>(() => ClipTokenizer.FromDirectory(missing));

        Assert.Equal(missing, error.Path);
    }

    [Fact]
    public void MalformedVocabFileIsAModelLoadErrorNamingIt()
    {
        using var folder = new TemporaryTokenizerDirectory(copyVocab: false);
        folder.Write("vocab.json", """{"a": 0, "b": """);

        var error = Assert.Throws<ModelLoadException>(() => ClipTokenizer.FromDirectory(folder.Path));

        Assert.Equal(folder.VocabPath, error.Path);
    }

    [Fact]
    public void MergeLineThatIsNotAPairIsAModelLoadErrorNamingTheFile()
    {
        using var folder = new TemporaryTokenizerDirectory(copyMerges: false);
        folder.Write("merges.txt", "#version: 0.2\ni n\nt h e\n");

        var error = Assert.Throws<ModelLoadException>(() => ClipTokenizer.FromDirectory(folder.Path));

        Assert.Equal(folder.MergesPath, error.Path);
        Assert.Contains("line 3", error.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("#version: 0.2\n")]
    [InlineData("#version: 0.2\n\n\n")]
    public void MergesFileWithoutPairsIsAModelLoadErrorNamingTheFile(string merges)
    {
        using var folder = new TemporaryTokenizerDirectory(copyMerges: false);
        folder.Write("merges.txt", merges);

        var error = Assert.Throws<ModelLoadException>(() => ClipTokenizer.FromDirectory(folder.Path));

        Assert.Equal(folder.MergesPath, error.Path);
        Assert.Contains("no merge pairs", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TwoTokensOnOneIdAreAModelLoadErrorNamingBoth()
    {
        using var folder = new TemporaryTokenizerDirectory(copyVocab: false, copyMerges: false);
        folder.Write("vocab.json", """{"a</w>": 0, "b</w>": 1, "ab</w>": 2, "<|startoftext|>": 3, "<|endoftext|>": 1}""");
        folder.Write("merges.txt", "#version: 0.2\na b</w>\n");

        var error = Assert.Throws<ModelLoadException>(() => ClipTokenizer.FromFiles(folder.VocabPath, folder.MergesPath));

        Assert.Equal(folder.VocabPath, error.Path);
        Assert.Contains("share id 1", error.Message, StringComparison.Ordinal);
        Assert.Contains("<|endoftext|>", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void VocabularyKeyOrderDoesNotMatter()
    {
        using var folder = new TemporaryTokenizerDirectory(copyVocab: false);
        var vocabulary = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(Path.Combine(TokenizerFiles.ClipDirectory, "vocab.json")))!;
        // Write the entries in descending id order, the reverse of the shipped file's (roughly ascending) order.
        folder.Write("vocab.json", JsonSerializer.Serialize(vocabulary.OrderByDescending(entry => entry.Value).ToDictionary()));

        var tokenizer = ClipTokenizer.FromDirectory(folder.Path);

        Assert.Equal(s_photoOfACat, tokenizer.Encode("a photo of a cat").Ids[..7]);
        Assert.Equal(ClipReferenceData.Cases[^1].Ids, tokenizer.EncodeWithoutSpecialTokens(ClipReferenceData.Cases[^1].Prompt));
    }

    [Fact]
    public void AddedTokenGetsTheNextIdAfterTheVocabulary()
    {
        var tokenizer = NewTokenizer();

        int id = tokenizer.AddToken("<cat-toy>");

        Assert.Equal(49408, id);
        Assert.Equal(49409, tokenizer.VocabularySize);
        Assert.Equal(49409, tokenizer.AddToken("<dog-toy>"));
    }

    [Fact]
    public void AddedTokenIsMatchedWholeBeforeBpe()
    {
        var tokenizer = NewTokenizer();
        int id = tokenizer.AddToken("<cat-toy>");

        var encoded = tokenizer.Encode("a photo of a <cat-toy>, in the garden");

        int[] expected = [Bos, .. tokenizer.EncodeWithoutSpecialTokens("a photo of a"), id, .. tokenizer.EncodeWithoutSpecialTokens(", in the garden"), Eos];
        Assert.Equal(expected, encoded.Ids[..expected.Length]);
    }

    [Fact]
    public void AddedTokenIsMatchedAfterLowerCasing()
    {
        var tokenizer = NewTokenizer();
        int id = tokenizer.AddToken("<Cat-Toy>");

        Assert.Contains(id, tokenizer.EncodeWithoutSpecialTokens("A <CAT-TOY> on a table"));
    }

    [Fact]
    public void AddingATokenAgainReturnsItsId()
    {
        var tokenizer = NewTokenizer();
        int id = tokenizer.AddToken("<cat-toy>");

        Assert.Equal(id, tokenizer.AddToken("<cat-toy>"));
        Assert.Equal(49409, tokenizer.VocabularySize);
    }

    [Fact]
    public void AddingAVocabularyEntryIsAnOptionError()
    {
        // "cat</w>" is CLIP token 2368.
        var error = Assert.Throws<InvalidOptionException>(() => NewTokenizer().AddToken("cat</w>"));

        Assert.Equal("token", error.OptionName);
    }

    [Fact]
    public void AddingAnEmptyTokenIsAnOptionError()
    {
        Assert.Throws<InvalidOptionException>(() => NewTokenizer().AddToken(" \t "));
    }

    [Fact]
    public void AddedTokenDecodesAsItsText()
    {
        var tokenizer = NewTokenizer();
        int id = tokenizer.AddToken("<cat-toy>");

        Assert.Equal("a <cat-toy> ", tokenizer.Decode([320, id]));
    }

    private static ClipTokenizer NewTokenizer() => ClipTokenizer.FromFiles(
        Path.Combine(TokenizerFiles.ClipDirectory, "vocab.json"), Path.Combine(TokenizerFiles.ClipDirectory, "merges.txt"));
}
