using Diffusion.Core.Execution;
using Diffusion.Core.Graphs;
using Diffusion.Core.Graphs.Architectures;
using Diffusion.Core.Graphs.SingleFile;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Tests.Models;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Tests.Graphs;

/// <summary>
/// Single-file checkpoints in the original LDM / SGM layout, written by diffusers' own conversion functions
/// (tools/reference-data/graphs/generate_tiny_pipelines.py), against torch.onnx.export folders of the same modules.
/// </summary>
public sealed class SingleFileCheckpointTests
{
    private static readonly SessionSettings s_session = new() { IntraOpThreads = 1 };

    private static PipelineSettings Settings(string configFolder) => new() { Session = s_session, ConfigDirectory = GraphFixtures.Fixture(configFolder) };

    [Theory]
    [InlineData("sd1", "sd1-safetensors")] // float16 file, OpenAI CLIP
    [InlineData("sd2", "sd2-config")]      // float16 file, OpenCLIP with one stored layer unused, text encoder config from shapes
    [InlineData("xl", "xl-safetensors")]   // float32 file, CLIP-L + OpenCLIP bigG (fused q/k/v, transposed projection)
    public void A_single_file_checkpoint_generates_what_the_torch_export_generates(string name, string configs)
    {
        var options = new GenerationOptions { Prompt = "a photo of a cat", NegativePrompt = "blurry", Steps = 4, Seed = 7 };
        using StableDiffusionPipeline single = StableDiffusionPipeline.Load(GraphFixtures.Fixture(name + ".safetensors"), Settings(configs));
        using StableDiffusionPipeline exported = StableDiffusionPipeline.Load(GraphFixtures.Fixture(name + "-onnx"), new PipelineSettings { Session = s_session });
        Assert.Equal(exported.Family, single.Family);
        GenerationResult a = single.Generate(options);
        GenerationResult b = exported.Generate(options);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(a.Latents, b.Latents), 0f, GraphFixtures.BuiltVersusExportLatents);

        GenerationResult c = single.Generate(options with { InitImage = a.Images[0], Strength = 0.5 });
        GenerationResult d = exported.Generate(options with { InitImage = a.Images[0], Strength = 0.5 });
        Assert.InRange(ReferenceTensors.MaxAbsDifference(c.Latents, d.Latents), 0f, GraphFixtures.BuiltVersusExportLatents);
    }

    [Theory]
    [InlineData("sd1", "StableDiffusion1")]
    [InlineData("sd2", "StableDiffusion2")]
    [InlineData("xl", "StableDiffusionXL")]
    public void The_family_is_detected_from_the_keys(string name, string kind)
    {
        using SingleFileCheckpoint checkpoint = SingleFileCheckpoint.Open(GraphFixtures.Fixture(name + ".safetensors"));
        Assert.Equal(kind, checkpoint.Layout.Kind.ToString());
        Assert.True(checkpoint.HasVae);
        Assert.Equal(4, checkpoint.UNetInChannels);
    }

    [Fact]
    public void Text_encoder_configs_come_from_the_shapes_and_sd2_keeps_one_layer_fewer()
    {
        using SingleFileCheckpoint sd1 = SingleFileCheckpoint.Open(GraphFixtures.Fixture("sd1.safetensors"));
        using var sd1Folder = new SafeTensorsWeightSource([GraphFixtures.Fixture("sd1-safetensors", "text_encoder", "model.safetensors")]);
        ClipTextConfig fromConfig = ClipTextConfig.FromJson(GraphFixtures.Fixture("sd1-safetensors", "text_encoder", "config.json"), false);
        Assert.Equal(fromConfig, ClipTextConfig.FromWeights(sd1Folder, "quick_gelu", dropLastLayer: false));
        Assert.Equal(sd1.BuildTextEncoder(0, null).ParameterCount, sd1.BuildTextEncoder(0, fromConfig).ParameterCount);

        using SingleFileCheckpoint sd2 = SingleFileCheckpoint.Open(GraphFixtures.Fixture("sd2.safetensors"));
        string graph = string.Join(",", Diffusion.Core.Graphs.Proto.ModelProto.Parser.ParseFrom(sd2.BuildTextEncoder(0, null).Graph).Graph.Output.Select(o => o.Name));
        Assert.Equal("last_hidden_state,pooler_output,hidden_states.0,hidden_states.1,hidden_states.2", graph); // 2 of the 3 stored layers
    }

    [Fact]
    public void Lora_and_textual_inversion_apply_to_a_single_file_as_to_the_export()
    {
        string adapters = GraphFixtures.Fixture("sd1-adapters");
        PipelineSettings settings = Settings("sd1-safetensors") with
        {
            Loras = [new LoraFile(Path.Combine(adapters, "lora.safetensors"), 0.8f)],
            TextualInversions = [Path.Combine(adapters, "cat-toy.safetensors")],
        };
        var options = new GenerationOptions { Prompt = "a photo of cat-toy", Steps = 3, Seed = 5 };
        using StableDiffusionPipeline single = StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd1.safetensors"), settings);
        using StableDiffusionPipeline exported = StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd1-onnx"), settings with { ConfigDirectory = null });
        GenerationResult a = single.Generate(options);
        Assert.Equal(5, a.LoraReports.Sum(r => r.MatchedModules.Count));
        float adapted = ReferenceTensors.MaxAbsDifference(a.Latents, exported.Generate(options).Latents);
        using StableDiffusionPipeline plain = StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd1-onnx"), new PipelineSettings { Session = s_session });
        float unadapted = ReferenceTensors.MaxAbsDifference(a.Latents, plain.Generate(options with { Prompt = "a photo of a cat" }).Latents);
        // The file is float16, so the merged weights are stored float16 (as for any float16 model); the export merged
        // in float32. Far closer than to the unadapted model.
        Assert.True(adapted < 0.02f && unadapted > 100 * adapted, $"adapted {adapted}, unadapted {unadapted}");
    }

    [Fact]
    public void A_separate_vae_file_in_ldm_names_replaces_the_embedded_one()
    {
        AutoencoderKlConfig config = AutoencoderKlConfig.FromJson(GraphFixtures.Fixture("sd1-safetensors", "vae", "config.json"));
        (BuiltModel decoder, _) = SeparateVae.Build(GraphFixtures.Fixture("vae-ldm.safetensors"), config);
        using InferenceSession built = SessionFactory.Create(decoder.ToSource(), s_session);
        using InferenceSession exported = SessionFactory.Create(GraphFixtures.Fixture("vae-ldm-onnx", "vae_decoder", "model.onnx"), s_session);
        var random = new Random(3);
        float[] latents = Enumerable.Range(0, 4 * 8 * 8).Select(_ => (float)random.NextDouble() * 2 - 1).ToArray();
        float[] Decode(InferenceSession session)
        {
            using var input = OrtValue.CreateTensorValueFromMemory(latents, [1, 4, 8, 8]);
            using var outputs = session.Run(new RunOptions(), ["latent_sample"], [input], ["sample"]);
            return outputs[0].GetTensorDataAsSpan<float>().ToArray();
        }
        Assert.InRange(ReferenceTensors.MaxAbsDifference(Decode(built), Decode(exported)), 0f, 1e-6f);

        // Through the pipeline: the separate VAE changes the decoded image, not the latents.
        var options = new GenerationOptions { Prompt = "a cat", Steps = 2, Seed = 1 };
        using StableDiffusionPipeline embedded = StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd1.safetensors"), Settings("sd1-safetensors"));
        using StableDiffusionPipeline replaced = StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd1.safetensors"),
            Settings("sd1-safetensors") with { VaePath = GraphFixtures.Fixture("vae-ldm.safetensors") });
        GenerationResult a = embedded.Generate(options), b = replaced.Generate(options);
        Assert.Equal(a.Latents, b.Latents);
        Assert.NotEqual(a.Images[0].Pixels, b.Images[0].Pixels);
    }

    [Fact]
    public void Without_a_tokenizer_the_error_names_the_setting()
    {
        string folder = Directory.CreateTempSubdirectory("diffusion-core-single-").FullName;
        string file = Path.Combine(folder, "model.safetensors");
        File.Copy(GraphFixtures.Fixture("sd1.safetensors"), file);
        var error = Assert.Throws<InvalidOptionException>(() => StableDiffusionPipeline.Load(file, new PipelineSettings { Session = s_session }));
        Assert.Equal(nameof(PipelineSettings.ConfigDirectory), error.OptionName);
        Assert.Contains("tokenizer/", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_configs_the_published_config_is_used_and_a_tiny_file_is_refused_by_tensor_before_any_session()
    {
        string configs = Directory.CreateTempSubdirectory("diffusion-core-configs-").FullName;
        GraphFixtures.CopyTree(GraphFixtures.Fixture("sd1-safetensors", "tokenizer"), Path.Combine(configs, "tokenizer"));
        long before = SessionFactory.SessionsCreatedOnCurrentThread;
        var error = Assert.Throws<WeightFileException>(() => StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd1.safetensors"),
            new PipelineSettings { Session = s_session, ConfigDirectory = configs }));
        Assert.Equal("model.diffusion_model.time_embed.0.weight", error.Key); // SD 1.5's time embedding is [1280, 320]
        Assert.Contains("[1280, 320]", error.Message, StringComparison.Ordinal);
        Assert.Contains("time_embedding.linear_1.weight", error.Message, StringComparison.Ordinal); // and its diffusers name
        Assert.Equal(GraphFixtures.Fixture("sd1.safetensors"), error.FilePath);
        Assert.Equal(before, SessionFactory.SessionsCreatedOnCurrentThread);
    }

    [Fact]
    public void Sd2_defaults_to_v_prediction_unless_the_file_or_a_setting_says_otherwise()
    {
        string configs = GraphFixtures.CopyFolder("sd2-config");
        Directory.Delete(Path.Combine(configs, "scheduler"), recursive: true);
        var settings = new PipelineSettings { Session = s_session, ConfigDirectory = configs };
        using (StableDiffusionPipeline pipeline = StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd2.safetensors"), settings))
            Assert.Equal("v_prediction", pipeline.Scheduler.Config.PredictionType);
        using (StableDiffusionPipeline pipeline = StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd2.safetensors"), settings with { PredictionType = "epsilon" }))
            Assert.Equal("epsilon", pipeline.Scheduler.Config.PredictionType);
        Assert.Equal(nameof(PipelineSettings.PredictionType), Assert.Throws<InvalidOptionException>(
            () => StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd2.safetensors"), settings with { PredictionType = "v" })).OptionName);
    }

    [Fact]
    public void A_file_of_no_known_layout_says_what_it_holds()
    {
        var error = Assert.Throws<WeightFileException>(() => StableDiffusionPipeline.Load(GraphFixtures.Fixture("vae-ldm.safetensors"), Settings("sd1-safetensors")));
        Assert.Contains("no text encoder of a known single-file layout", error.Message, StringComparison.Ordinal);
        Assert.Contains("decoder.", error.Message, StringComparison.Ordinal); // what it found instead
    }

    [Fact]
    public void A_truncated_file_and_a_pickle_are_refused_naming_the_file()
    {
        string folder = Directory.CreateTempSubdirectory("diffusion-core-single-").FullName;
        string truncated = Path.Combine(folder, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(GraphFixtures.Fixture("sd1.safetensors"));
        File.WriteAllBytes(truncated, bytes[..(bytes.Length - 1000)]);
        Assert.Equal(truncated, Assert.Throws<WeightFileException>(() => StableDiffusionPipeline.Load(truncated, Settings("sd1-safetensors"))).FilePath);

        string pickle = Path.Combine(folder, "model.ckpt");
        File.WriteAllBytes(pickle, [0x80, 2, 0x7d, 0x71]);
        var error = Assert.Throws<WeightFileException>(() => StableDiffusionPipeline.Load(pickle, Settings("sd1-safetensors")));
        Assert.Contains("pickle", error.Message, StringComparison.Ordinal);
    }


    [Fact]
    public void Loading_reports_what_was_found_and_what_was_left_unused()
    {
        using SingleFileCheckpoint sd2 = SingleFileCheckpoint.Open(GraphFixtures.Fixture("sd2.safetensors"));
        sd2.BuildTextEncoder(0, null);
        sd2.BuildUNet(UNetConfig.FromJson(GraphFixtures.Fixture("sd2-config", "unet", "config.json")));
        sd2.BuildVae(AutoencoderKlConfig.FromJson(GraphFixtures.Fixture("sd2-config", "vae", "config.json")));
        string report = sd2.Report();
        Assert.StartsWith("StableDiffusion2, F16, UNet conv_in 4 channels, VAE embedded;", report, StringComparison.Ordinal);
        // The one stored text layer SD 2.x does not use is all that is left.
        Assert.EndsWith("956 of 968 tensors used; unused: cond_stage_model.model.transformer.* (12)", report, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ConfigDirectory")]
    [InlineData("VaePath")]
    public void Single_file_options_given_for_a_folder_are_refused_not_ignored(string option)
    {
        PipelineSettings settings = option == "ConfigDirectory"
            ? new PipelineSettings { Session = s_session, ConfigDirectory = GraphFixtures.Fixture("sd1-safetensors") }
            : new PipelineSettings { Session = s_session, VaePath = GraphFixtures.Fixture("vae-ldm.safetensors") };
        var error = Assert.Throws<InvalidOptionException>(() => StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd1-onnx"), settings));
        Assert.Equal(option, error.OptionName);
    }

    [Fact]
    public void A_unet_path_replaces_the_single_files_unet()
    {
        var options = new GenerationOptions { Prompt = "a cat", Steps = 2, Seed = 2 };
        using StableDiffusionPipeline single = StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd1.safetensors"),
            Settings("sd1-safetensors") with { UNetModelPath = GraphFixtures.Fixture("sd1-onnx", "unet", "model.onnx") });
        Assert.EndsWith("model.onnx", single.UNet.ModelPath, StringComparison.Ordinal);
        using StableDiffusionPipeline exported = StableDiffusionPipeline.Load(GraphFixtures.Fixture("sd1-onnx"), new PipelineSettings { Session = s_session });
        Assert.InRange(ReferenceTensors.MaxAbsDifference(single.Generate(options).Latents, exported.Generate(options).Latents), 0f, GraphFixtures.BuiltVersusExportLatents);
    }
}
