using Diffusion.Core.Tokenization;

namespace Diffusion.Core.Tests.Tokenization;

/// <summary>The real CLIP tokenizer files in ../shared, loaded once per test run.</summary>
internal static class TokenizerFiles
{
    private static readonly Lazy<ClipTokenizer> s_clip = new(() =>
        ClipTokenizer.FromFiles(Path.Combine(ClipDirectory, "vocab.json"), Path.Combine(ClipDirectory, "merges.txt")));

    private static readonly Lazy<ClipTokenizer> s_clipHuggingFace = new(() =>
        ClipTokenizer.FromFiles(Path.Combine(ClipDirectory, "vocab.json"), Path.Combine(ClipDirectory, "merges.txt"),
            new ClipTokenizerOptions { Cleanup = ClipTextCleanup.HuggingFace }));

    /// <summary>shared/models/clip-tokenizer (vocab.json + merges.txt of SD 1.x/2.x).</summary>
    public static string ClipDirectory => SharedData.Require("models/clip-tokenizer");

    /// <summary>shared/models/tiny-sd/tokenizer (the same files plus tokenizer_config.json and special_tokens_map.json).</summary>
    public static string TinySdDirectory => SharedData.Require("models/tiny-sd/tokenizer");

    /// <summary>A tokenizer over the CLIP files with default options, shared by tests that do not add tokens.</summary>
    public static ClipTokenizer Clip
    {
        get
        {
            _ = ClipDirectory; // skip (or fail under CI) before touching the lazy value
            return s_clip.Value;
        }
    }

    /// <summary>Like <see cref="Clip"/>, with Hugging Face's text cleanup.</summary>
    public static ClipTokenizer ClipHuggingFace
    {
        get
        {
            _ = ClipDirectory;
            return s_clipHuggingFace.Value;
        }
    }
}
