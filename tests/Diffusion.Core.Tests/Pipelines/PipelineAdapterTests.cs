using System.Text;
using Diffusion.Core.Adapters;
using Diffusion.Core.Execution;
using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Tests.Pipelines;

public sealed class PipelineAdapterTests
{
    // A kohya LoRA for tiny-sd's UNet: all 78 adaptable modules (LoraMergerTests.TinySdUNetLoraMatchesEveryAdaptableModule).
    private static string TinySdLora => Path.Combine(AppContext.BaseDirectory, "TestData", "lora", "tinysd_unet_kohya.safetensors");

    private static StableDiffusionPipeline Load(IReadOnlyList<LoraFile>? loras = null, string? loraDirectory = null, IReadOnlyList<string>? embeddings = null) =>
        TinySd.Load(new PipelineSettings
        {
            Session = TinySd.Session,
            Loras = loras ?? [],
            LoraDirectory = loraDirectory,
            TextualInversions = embeddings ?? [],
        });

    [Fact]
    public void ALoraAtMultiplierZeroGivesTheBaseOutputBitForBit()
    {
        using var basePipeline = TinySd.Load();
        using var pipeline = Load([new LoraFile(TinySdLora, 0f)]);

        GenerationResult result = pipeline.Generate(TinySd.SmallOptions());

        Assert.Equal(basePipeline.Generate(TinySd.SmallOptions()).Latents, result.Latents);
        LoraApplicationReport report = Assert.Single(result.LoraReports);
        Assert.Equal(LoraTarget.UNet, report.Target);
        Assert.Equal(78, report.MatchedModules.Count);
    }

    [Fact]
    public void ANonZeroLoraChangesTheOutput()
    {
        using var basePipeline = TinySd.Load();
        using var pipeline = Load([new LoraFile(TinySdLora, 1f)]);

        Assert.NotEqual(basePipeline.Generate(TinySd.SmallOptions()).Latents, pipeline.Generate(TinySd.SmallOptions()).Latents);
    }

    [Fact]
    public void PromptTagsAreStrippedAndSwapOnlyTheUNetSession()
    {
        string directory = Path.GetDirectoryName(TinySdLora)!;
        using var tagged = Load(loraDirectory: directory);
        using var fixedLora = Load([new LoraFile(TinySdLora, 0.8f)]);
        GenerationOptions options = TinySd.SmallOptions();
        // A1111 removes the tag and keeps the space before it, so "prompt <lora:…>" is encoded as "prompt ".
        GenerationOptions untagged = options with { Prompt = options.Prompt + " " };
        GenerationOptions tagged08 = options with { Prompt = options.Prompt + " <lora:tinysd_unet_kohya:0.8>" };

        float[] baseLatents = tagged.Generate(untagged).Latents;
        long before = SessionFactory.SessionsCreatedOnCurrentThread;
        GenerationResult withTag = tagged.Generate(tagged08);
        long afterTag = SessionFactory.SessionsCreatedOnCurrentThread;
        tagged.Generate(tagged08);
        long afterSameTag = SessionFactory.SessionsCreatedOnCurrentThread;
        GenerationResult withoutTag = tagged.Generate(untagged);

        Assert.Equal(fixedLora.Generate(untagged).Latents, withTag.Latents);
        Assert.Equal(baseLatents, withoutTag.Latents);
        Assert.NotEqual(baseLatents, withTag.Latents);
        Assert.Equal(1, afterTag - before);      // the UNet only: this LoRA has no text-encoder modules
        Assert.Equal(afterTag, afterSameTag);    // same tags, same sessions
        Assert.Single(withTag.LoraReports);
        Assert.Empty(withoutTag.LoraReports);
    }

    [Fact]
    public void AnUnknownLoraTagIsAWeightFileError()
    {
        using var pipeline = Load(loraDirectory: Path.GetDirectoryName(TinySdLora)!);
        Assert.Throws<WeightFileException>(() => pipeline.Generate(TinySd.SmallOptions() with { Prompt = "a cat <lora:missing:1>" }));
    }

    [Fact]
    public void TextualInversionTokensReachTheTextEncoder()
    {
        string first = WriteEmbedding("zzfirsttoken", 0.5f);
        string second = WriteEmbedding("zzsecondtoken", -0.5f);
        using var a = Load(embeddings: [first]);
        using var b = Load(embeddings: [second]);
        const int vocabulary = 49408; // CLIP's vocabulary (tiny-sd README): added tokens come right after it

        // Both files name their token after the file: use each pipeline's own token in the same place.
        float[] withA = a.Generate(TinySd.SmallOptions() with { Prompt = "a photo of zzfirsttoken" }).Latents;
        float[] withB = b.Generate(TinySd.SmallOptions() with { Prompt = "a photo of zzsecondtoken" }).Latents;

        Assert.Equal(vocabulary, a.Tokenizer.Encode("zzfirsttoken").Ids[1]);
        Assert.NotEqual(withA, withB);
    }

    /// <summary>An A1111-style embedding (<c>emb_params</c> [2, 32], tiny-sd's width) filled with <paramref name="value"/>.</summary>
    private static string WriteEmbedding(string token, float value)
    {
        string directory = Path.Combine(Path.GetTempPath(), "diffusion-core-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, token + ".safetensors");
        byte[] header = Encoding.UTF8.GetBytes("{\"emb_params\":{\"dtype\":\"F32\",\"shape\":[2,32],\"data_offsets\":[0,256]}}");
        using var stream = File.Create(path);
        stream.Write(BitConverter.GetBytes((long)header.Length));
        stream.Write(header);
        for (int i = 0; i < 64; i++)
            stream.Write(BitConverter.GetBytes(value * (1 + i % 7)));
        return path;
    }
}
