using System.Text.Json;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Schedulers;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Tokenization;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Tests.Pipelines.Sdxl;

/// <summary>SDXL's conditioning pieces on their own: token ids, penultimate states, pooled output, weighting, guidance layouts.</summary>
public sealed class XLConditioningTests
{
    private static (ClipTokenizer Tokenizer, TextEncoder Encoder) Encoder(string name, string tokenizer)
        => (ClipTokenizer.FromDirectory(Path.Combine(TinySdxl.BaseFolder, tokenizer)), TextEncoder.Load(Path.Combine(TinySdxl.BaseFolder, name, "model.onnx"), TinySd.Session));

    [Fact]
    public void Both_tokenizers_give_the_reference_ids_with_their_own_padding()
    {
        JsonElement reference = TinySdxl.Case("conditioning");
        string prompt = reference.GetProperty("prompt").GetString()!;
        var first = ClipTokenizer.FromDirectory(Path.Combine(TinySdxl.BaseFolder, "tokenizer"));
        var second = ClipTokenizer.FromDirectory(Path.Combine(TinySdxl.BaseFolder, "tokenizer_2"));
        Assert.Equal(reference.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()), first.Encode(prompt).Ids);
        Assert.Equal(reference.GetProperty("prompt_ids_2").EnumerateArray().Select(e => e.GetInt32()), second.Encode(prompt).Ids);
    }

    [Fact]
    public void Penultimate_states_of_both_encoders_side_by_side_and_the_pooled_output_match_diffusers()
    {
        string prompt = TinySdxl.Case("conditioning").GetProperty("prompt").GetString()!;
        (ClipTokenizer t1, TextEncoder e1) = Encoder("text_encoder", "tokenizer");
        (ClipTokenizer t2, TextEncoder e2) = Encoder("text_encoder_2", "tokenizer_2");
        using (e1)
        using (e2)
        {
            PromptEmbeddings a = new PromptEmbedder(t1, e1, EmbeddingLayer.PenultimateRaw, includePooled: false).Encode(prompt, PromptSyntax.Plain);
            PromptEmbeddings b = new PromptEmbedder(t2, e2, EmbeddingLayer.PenultimateRaw, includePooled: true).Encode(prompt, PromptSyntax.Plain);
            float[] expected = TinySdxl.Floats("conditioning-prompt-embeds");
            int width = a.HiddenSize + b.HiddenSize;
            Assert.Equal(77 * width, expected.Length);
            float[] joined = new float[expected.Length];
            for (int token = 0; token < 77; token++)
            {
                a.Values.AsSpan(token * a.HiddenSize, a.HiddenSize).CopyTo(joined.AsSpan(token * width));
                b.Values.AsSpan(token * b.HiddenSize, b.HiddenSize).CopyTo(joined.AsSpan(token * width + a.HiddenSize));
            }
            TinySdxl.AssertClose(expected, joined, 1e-5f, "prompt_embeds");
            TinySdxl.AssertClose(TinySdxl.Floats("conditioning-pooled"), b.Pooled!, 1e-5f, "pooled_prompt_embeds");
        }
    }

    [Fact]
    public void Weighted_prompts_weight_each_encoder_on_its_own_and_pool_unweighted()
    {
        // Hand computation of the web UI's SDXL emphasis: each encoder's 77 × width chunk times the token weights, then
        // rescaled to its own unweighted mean; the pooled output is the unweighted prompt's.
        using StableDiffusionPipeline pipeline = TinySdxl.LoadBase();
        var options = new GenerationOptions { Prompt = "a (horse:1.5) on mars", PromptSyntax = PromptSyntax.Weighted, GuidanceScale = 1f, Steps = 1, Seed = 1 };
        PromptConditioning weighted = XLPromptConditioningProbe.Encode(pipeline, options, 64, 64);
        PromptConditioning plain = XLPromptConditioningProbe.Encode(pipeline, options with { Prompt = "a horse on mars" }, 64, 64);

        int[] ids = pipeline.Tokenizer.Encode("a horse on mars").Ids;
        int endToken = pipeline.Tokenizer.Encode(string.Empty).Ids[1];
        int[] horse = pipeline.Tokenizer.Encode("horse").Ids.Skip(1).TakeWhile(id => id != endToken).ToArray(); // its BPE pieces
        int at = Enumerable.Range(0, 77).First(i => ids.Skip(i).Take(horse.Length).SequenceEqual(horse));
        float[] weights = Enumerable.Repeat(1f, 77).ToArray();
        for (int k = 0; k < horse.Length; k++)
            weights[at + k] = 1.5f;
        int w1 = pipeline.TextEncoder.GetHiddenSize(), w2 = pipeline.TextEncoder2!.GetHiddenSize(), width = w1 + w2;
        float[] expected = new float[77 * width];
        foreach ((int offset, int w) in new[] { (0, w1), (w1, w2) })
        {
            float[] part = new float[77 * w];
            for (int t = 0; t < 77; t++)
                plain.Embeddings.AsSpan(t * width + offset, w).CopyTo(part.AsSpan(t * w));
            double before = part.Select(v => (double)v).Sum() / part.Length;
            for (int t = 0; t < 77; t++)
                for (int j = 0; j < w; j++)
                    part[t * w + j] *= weights[t];
            double after = part.Select(v => (double)v).Sum() / part.Length;
            for (int t = 0; t < 77; t++)
                for (int j = 0; j < w; j++)
                    expected[t * width + offset + j] = part[t * w + j] * (float)before / (float)after;
        }
        TinySdxl.AssertClose(expected, weighted.Embeddings, 1e-5f, "weighted embeddings");
        Assert.NotEqual(plain.Embeddings, weighted.Embeddings);
        Assert.Equal(plain.Added["text_embeds"], weighted.Added["text_embeds"]);
    }

    [Fact]
    public void Guidance_lays_out_negative_then_positive_rows_with_zeros_for_an_empty_negative_prompt()
    {
        using StableDiffusionPipeline pipeline = TinySdxl.LoadBase();
        var options = new GenerationOptions { Prompt = "a horse", GuidanceScale = 5f, ImagesPerPrompt = 2, Steps = 1, Seed = 1, OriginalSize = new PixelSize(96, 80), CropTop = 4, CropLeft = 8 };
        PromptConditioning conditioning = XLPromptConditioningProbe.Encode(pipeline, options, 64, 48);
        float[] timeIds = conditioning.Added["time_ids"];
        Assert.Equal(4 * 6, timeIds.Length);
        Assert.Equal(new float[] { 80, 96, 4, 8, 48, 64 }, timeIds[..6]); // (original h, w, crop top, left, target h, w)
        Assert.Equal(timeIds[..6], timeIds[18..]);
        float[] pooled = conditioning.Added["text_embeds"];
        int p = pooled.Length / 4;
        Assert.All(pooled[..(2 * p)], v => Assert.Equal(0f, v));
        Assert.Contains(pooled[(2 * p)..], v => v != 0f);
        int perImage = conditioning.Embeddings.Length / 4;
        Assert.All(conditioning.Embeddings[..(2 * perImage)], v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Batched_and_separate_guidance_agree()
    {
        GenerationOptions options = TinySdxl.Options("txt2img-negative");
        using StableDiffusionPipeline batched = TinySdxl.LoadBase(new PipelineSettings { Session = TinySd.Session, GuidanceMode = ClassifierFreeGuidanceMode.Batched });
        using StableDiffusionPipeline separate = TinySdxl.LoadBase(new PipelineSettings { Session = TinySd.Session, GuidanceMode = ClassifierFreeGuidanceMode.Separate });
        TinySdxl.AssertClose(batched.Generate(options).Latents, separate.Generate(options).Latents, 1e-4f, "latents");
    }

    [Fact]
    public void Sequential_memory_mode_gives_the_same_sdxl_image()
    {
        GenerationOptions options = TinySdxl.Options("txt2img");
        using StableDiffusionPipeline sequential = TinySdxl.LoadBase(new PipelineSettings { Session = TinySd.Session, MemoryMode = MemoryMode.Sequential });
        GenerationResult result = sequential.Generate(options);
        TinySdxl.AssertClose(TinySdxl.Floats("txt2img-latents"), result.Latents, 1e-4f, "latents");
        Assert.False(sequential.TextEncoder2!.IsLoaded);
    }

    [Fact]
    public void The_hand_off_window_follows_diffusers_cutoffs()
    {
        IScheduler euler = SchedulerCatalog.CreateFromConfig(SchedulerConfig.FromJsonFile(Path.Combine(TinySdxl.BaseFolder, "scheduler", "scheduler_config.json")));
        euler.SetTimesteps(10); // 901 801 … 1
        Assert.Equal(8, ScheduleWindow.EndIndexAt(0.8, euler, 0));   // ≥ 200: 901 … 201
        Assert.Equal(8, ScheduleWindow.StartIndexAt(0.8, euler));    // < 200: 101, 1
        IScheduler heun = SchedulerCatalog.Create("HeunDiscreteScheduler", euler.Config);
        heun.SetTimesteps(10); // 19 evaluations, every timestep but the first twice
        int start = ScheduleWindow.StartIndexAt(0.8, heun);
        Assert.Equal(1, (heun.Timesteps.Length - start) % 2); // an odd count: never between a step's two evaluations
    }
}

/// <summary>Runs the pipeline's SDXL conditioning stage alone.</summary>
internal static class XLPromptConditioningProbe
{
    public static PromptConditioning Encode(StableDiffusionPipeline pipeline, GenerationOptions options, int width, int height)
    {
        var models = new PipelineModels(pipeline.Tokenizer, pipeline.TextEncoder, pipeline.UNet, pipeline.VaeDecoder, null, null, TinySd.Session, MemoryMode.KeepLoaded)
        {
            Tokenizer2 = pipeline.Tokenizer2,
            TextEncoder2 = pipeline.TextEncoder2,
        };
        using var runOptions = new RunOptions();
        bool guided = options.GuidanceScale > 1f;
        return XLPromptConditioning.Encode(models, new XLConditioningSettings(true, false), options, options.Prompt, options.NegativePrompt,
            options.ImagesPerPrompt, guided, width, height, runOptions, null);
    }
}
