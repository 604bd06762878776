using Diffusion.Core.Tokenization;
using Google.Protobuf;
using Sentencepiece;

namespace Diffusion.Core.Tests.Tokenization;

/// <summary>T5Tokenizer's pipeline conventions (EOS, padding, truncation), its differences from transformers, and bad model files.</summary>
public sealed class T5TokenizerTests
{
    private static readonly Lazy<T5Tokenizer> s_tokenizer = new(() => T5Tokenizer.FromModelFile(T5TokenizerReferenceTests.PathOf("spiece.model")));

    private static T5Tokenizer Tokenizer => s_tokenizer.Value;

    [Fact]
    public void Prompt_ids_are_followed_by_eos_then_padding()
    {
        int[] prompt = Tokenizer.Encode("a photo of a cat");
        TokenizedText text = Tokenizer.Tokenize("a photo of a cat", T5Tokenizer.Sd3MaxSequenceLength);
        Assert.Equal(T5Tokenizer.Sd3MaxSequenceLength, text.Ids.Length);
        Assert.Equal(prompt, text.Ids[..prompt.Length]);
        Assert.Equal(1, Tokenizer.EosTokenId);
        Assert.Equal(0, Tokenizer.PadTokenId);
        Assert.Equal(Tokenizer.EosTokenId, text.Ids[prompt.Length]);
        Assert.All(text.Ids[(prompt.Length + 1)..], id => Assert.Equal(Tokenizer.PadTokenId, id));
        Assert.Equal(prompt.Length + 1, text.TokenCount);
        Assert.False(text.Truncated);
    }

    [Fact]
    public void A_long_prompt_keeps_its_first_tokens_and_reports_the_rest()
    {
        string prompt = string.Join(' ', Enumerable.Range(0, 700).Select(i => $"word{i}"));
        int[] all = Tokenizer.Encode(prompt);
        TokenizedText text = Tokenizer.Tokenize(prompt, T5Tokenizer.FluxMaxSequenceLength);
        Assert.True(all.Length > 512);
        Assert.Equal(all[..511], text.Ids[..511]);
        Assert.Equal(Tokenizer.EosTokenId, text.Ids[511]);
        Assert.Equal(512, text.TokenCount);
        Assert.Equal(all.Length - 511, text.DroppedTokenCount);
    }

    [Fact]
    public void Empty_prompt_is_eos_alone()
    {
        TokenizedText text = Tokenizer.Tokenize("", 4);
        Assert.Equal([1, 0, 0, 0], text.Ids);
        Assert.Empty(Tokenizer.Encode("   \t "));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(T5Tokenizer.MaxSequenceLengthLimit + 1)]
    public void Sequence_length_out_of_range_is_named(int length)
        => Assert.Equal("MaxSequenceLength", Assert.Throws<InvalidOptionException>(() => Tokenizer.Tokenize("cat", length)).OptionName);

    // Known difference 1 (docs/t5-tokenizer.md): transformers maps the special tokens' text to their ids; SentencePiece
    // (the reference here) tokenizes it as text, so a prompt cannot end itself early or inject sentinel ids.
    [Theory]
    [InlineData("a cat</s>a dog")]
    [InlineData("<pad><unk>")]
    [InlineData("<extra_id_0> fills")]
    public void Special_token_text_in_a_prompt_is_tokenized_as_text(string prompt)
    {
        int[] ids = Tokenizer.Encode(prompt);
        Assert.DoesNotContain(Tokenizer.EosTokenId, ids);
        Assert.DoesNotContain(Tokenizer.PadTokenId, ids);
        Assert.All(ids, id => Assert.InRange(id, 0, Tokenizer.Model.PieceCount - 1));
    }

    // Known difference 2: whitespace is SentencePiece's (leading/trailing dropped, runs folded, NFKC spaces
    // included) — the same as transformers' fast tokenizer without special tokens in the text.
    [Fact]
    public void Whitespace_runs_and_kinds_fold_to_one_separator()
    {
        int[] plain = Tokenizer.Encode("a photo of a cat");
        Assert.Equal(plain, Tokenizer.Encode("  a   photo\tof\u3000a\u00a0cat  "));
    }

    [Fact]
    public void Missing_folder_and_tokenizer_json_only_are_named()
    {
        Assert.Throws<ModelLoadException>(() => T5Tokenizer.FromDirectory(Path.Combine(Path.GetTempPath(), "no-such-t5-folder")));
        string folder = Directory.CreateTempSubdirectory("t5-json-only").FullName;
        try
        {
            File.WriteAllText(Path.Combine(folder, "tokenizer.json"), "{}");
            var error = Assert.Throws<ModelLoadException>(() => T5Tokenizer.FromDirectory(folder));
            Assert.Contains("spiece.model", error.Message, StringComparison.Ordinal);
            Assert.Contains("tokenizer.json", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Folder_with_spiece_model_loads()
    {
        string folder = Directory.CreateTempSubdirectory("t5-folder").FullName;
        try
        {
            File.Copy(T5TokenizerReferenceTests.PathOf("spiece.model"), Path.Combine(folder, "spiece.model"));
            Assert.Equal(Tokenizer.Encode("a cat"), T5Tokenizer.FromDirectory(folder).Encode("a cat"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Random_bytes_are_not_a_model()
        => Assert.Throws<ModelLoadException>(() => SentencePieceModel.FromBytes([0xFF, 0xFF, 0xFF, 0x0F, 0x01, 0x02], "x.model"));

    [Fact]
    public void A_bpe_model_is_refused_by_type()
    {
        ModelProto proto = Minimal();
        proto.TrainerSpec.ModelType = TrainerSpec.Types.ModelType.Bpe;
        var error = Assert.Throws<ModelLoadException>(() => SentencePieceModel.FromBytes(proto.ToByteArray(), "bpe.model"));
        Assert.Contains("unigram", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_model_without_unknown_piece_or_with_duplicates_is_refused()
    {
        ModelProto noUnknown = Minimal();
        noUnknown.Pieces.RemoveAt(2);
        Assert.Contains("<unk>", Assert.Throws<ModelLoadException>(() => SentencePieceModel.FromBytes(noUnknown.ToByteArray(), "m")).Message, StringComparison.Ordinal);
        ModelProto duplicate = Minimal();
        duplicate.Pieces.Add(new ModelProto.Types.SentencePiece { Piece = "▁a", Score = -3f });
        Assert.Contains("twice", Assert.Throws<ModelLoadException>(() => SentencePieceModel.FromBytes(duplicate.ToByteArray(), "m")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_model_without_eos_is_no_t5_tokenizer()
    {
        ModelProto proto = Minimal();
        proto.Pieces.RemoveAt(1);
        proto.TrainerSpec.EosId = -1;
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, proto.ToByteArray());
            Assert.Contains("</s>", Assert.Throws<ModelLoadException>(() => T5Tokenizer.FromModelFile(path)).Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_charsmap_whose_trie_points_outside_itself_fails_as_a_load_error_naming_the_file()
    {
        ModelProto proto = Minimal();
        // A one-unit trie whose root offset sends the first byte far outside the array.
        byte[] blob = [4, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F, 0];
        proto.NormalizerSpec = new NormalizerSpec { PrecompiledCharsmap = ByteString.CopyFrom(blob) };
        SentencePieceModel model = SentencePieceModel.FromBytes(proto.ToByteArray(), "corrupt.model");
        var error = Assert.Throws<ModelLoadException>(() => model.Encode("a"));
        Assert.Contains("corrupt.model", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_charsmap_shorter_than_its_declared_trie_is_refused()
    {
        ModelProto proto = Minimal();
        proto.NormalizerSpec = new NormalizerSpec { PrecompiledCharsmap = ByteString.CopyFrom([200, 0, 0, 0, 1, 2, 3, 4]) };
        Assert.Throws<ModelLoadException>(() => SentencePieceModel.FromBytes(proto.ToByteArray(), "m"));
    }

    [Fact]
    public void Consecutive_unknown_characters_merge_into_one_unknown_id()
    {
        SentencePieceModel model = SentencePieceModel.FromBytes(Minimal().ToByteArray(), "m");
        Assert.Equal([3, 2, 3], model.Encode("a xyz a"));
    }

    /// <summary>&lt;pad&gt; &lt;/s&gt; &lt;unk&gt; ▁a: no normalization rules, T5's ids.</summary>
    private static ModelProto Minimal()
    {
        var proto = new ModelProto
        {
            TrainerSpec = new TrainerSpec { ModelType = TrainerSpec.Types.ModelType.Unigram, PadId = 0, EosId = 1, UnkId = 2, BosId = -1 },
            NormalizerSpec = new NormalizerSpec { Name = "identity" },
        };
        proto.Pieces.Add(new ModelProto.Types.SentencePiece { Piece = "<pad>", Type = ModelProto.Types.SentencePiece.Types.Type.Control });
        proto.Pieces.Add(new ModelProto.Types.SentencePiece { Piece = "</s>", Type = ModelProto.Types.SentencePiece.Types.Type.Control });
        proto.Pieces.Add(new ModelProto.Types.SentencePiece { Piece = "<unk>", Type = ModelProto.Types.SentencePiece.Types.Type.Unknown });
        proto.Pieces.Add(new ModelProto.Types.SentencePiece { Piece = "▁a", Score = -1f });
        return proto;
    }
}
