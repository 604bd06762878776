using Diffusion.Core.Imaging;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Pipelines.FlowMatching;

/// <summary>What SD3/FLUX.1 pipelines refuse, by name, instead of ignoring: options of other families and this version's gaps.</summary>
public sealed class FlowMatchingPipelineOptionTests
{
    private static GenerationOptions Small => new() { Prompt = "a cat", Width = 32, Height = 32, Steps = 1, Seed = 1 };

    [Fact]
    public void Flux_refuses_a_negative_prompt_without_true_cfg_rather_than_ignoring_it()
    {
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.FluxDev);
        var error = Assert.Throws<InvalidOptionException>(() => pipeline.Generate(Small with { NegativePrompt = "blurry" }));
        Assert.Equal(nameof(GenerationOptions.NegativePrompt), error.OptionName);
    }

    [Fact]
    public void True_cfg_is_refused_by_the_families_that_guide_with_guidance_scale()
    {
        using (FlowMatchingPipeline sd3 = FlowMatchingPipeline.Load(TinyFlowModels.Sd3))
            Assert.Equal(nameof(GenerationOptions.TrueCfgScale), Assert.Throws<InvalidOptionException>(() => sd3.Generate(Small with { TrueCfgScale = 4f })).OptionName);
        using StableDiffusionPipeline sd = StableDiffusionPipeline.Load(TinySd.Folder);
        Assert.Equal(nameof(GenerationOptions.TrueCfgScale), Assert.Throws<InvalidOptionException>(() => sd.Generate(Small with { TrueCfgScale = 4f })).OptionName);
        Assert.Equal(nameof(GenerationOptions.MaxSequenceLength), Assert.Throws<InvalidOptionException>(() => sd.Generate(Small with { MaxSequenceLength = 64 })).OptionName);
    }

    [Fact]
    public void Flux_schnell_refuses_a_guidance_scale_it_has_no_embedding_for()
    {
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.FluxSchnell);
        var error = Assert.Throws<InvalidOptionException>(() => pipeline.Generate(Small with { GuidanceScale = 3.5f }));
        Assert.Equal(nameof(GenerationOptions.GuidanceScale), error.OptionName);
        Assert.Single(pipeline.Generate(Small with { GuidanceScale = 0f }).Images); // diffusers' schnell examples pass 0
    }

    [Theory]
    [InlineData(40, 32, nameof(GenerationOptions.Width))]
    [InlineData(32, 24, nameof(GenerationOptions.Height))]
    public void A_side_that_is_not_a_multiple_of_16_is_refused_before_any_model_runs(int width, int height, string option)
    {
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.Sd3);
        var error = Assert.Throws<InvalidOptionException>(() => pipeline.Generate(Small with { Width = width, Height = height }));
        Assert.Equal(option, error.OptionName);
    }

    [Fact]
    public void Starting_latents_are_refused_by_name_in_this_version()
    {
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.Sd3);
        var error = Assert.Throws<InvalidOptionException>(() => pipeline.Generate(Small with { InitLatents = new LatentImage(new float[16 * 4 * 4], 1, 16, 4, 4) }));
        Assert.Equal(nameof(GenerationOptions.InitLatents), error.OptionName);
    }

    [Fact]
    public void A_strength_that_leaves_no_step_is_refused_as_diffusers_does()
    {
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.FluxSchnell);
        var image = new ImageBuffer(32, 32, new byte[32 * 32 * 3]);
        // t_start = int(max(steps − steps·strength, 0)) truncates, so any strength above 0 keeps at least one step.
        Assert.Equal(1, pipeline.Generate(Small with { InitImage = image, Strength = 0.1, Steps = 4 }).DenoisingSteps);
        var error = Assert.Throws<InvalidOptionException>(() => pipeline.Generate(Small with { InitImage = image, Strength = 0, Steps = 4 }));
        Assert.Equal(nameof(GenerationOptions.Strength), error.OptionName);
    }

    [Fact]
    public void Image_to_image_needs_a_vae_encoder_and_says_so()
    {
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.Path("tiny-flux-dev-onnx"));
        var image = new ImageBuffer(32, 32, new byte[32 * 32 * 3]);
        var error = Assert.Throws<InvalidOptionException>(() => pipeline.Generate(Small with { InitImage = image }));
        Assert.Equal(nameof(GenerationOptions.InitImage), error.OptionName);
    }

    [Fact]
    public void A_diffusion_scheduler_is_refused_on_a_flow_model()
    {
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.Sd3);
        var euler = new EulerDiscreteScheduler(new SchedulerConfig());
        var error = Assert.Throws<InvalidOptionException>(() => pipeline.Generate(Small with { Scheduler = euler }));
        Assert.Equal(nameof(GenerationOptions.Scheduler), error.OptionName);
    }

    [Fact]
    public void Flux_refuses_a_scheduler_that_cannot_take_its_custom_sigmas_and_sd3_runs_heun()
    {
        var heun = new FlowMatchHeunDiscreteScheduler(SchedulerConfig.FromJsonFile(Path.Combine(TinyFlowModels.FluxSchnell, "scheduler", "scheduler_config.json")));
        using (FlowMatchingPipeline flux = FlowMatchingPipeline.Load(TinyFlowModels.FluxSchnell))
        {
            var error = Assert.Throws<InvalidOptionException>(() => flux.Generate(Small with { Scheduler = heun }));
            Assert.Equal(nameof(GenerationOptions.Scheduler), error.OptionName);
        }
        using FlowMatchingPipeline sd3 = FlowMatchingPipeline.Load(TinyFlowModels.Sd3);
        GenerationResult result = sd3.Generate(Small with { Scheduler = heun, Steps = 2 });
        Assert.Equal(3, result.DenoisingSteps); // Heun: 2 steps = 3 model calls
    }

    [Fact]
    public void A_long_prompt_reports_its_truncation_to_max_sequence_length()
    {
        using FlowMatchingPipeline pipeline = FlowMatchingPipeline.Load(TinyFlowModels.FluxSchnell);
        GenerationResult shortPrompt = pipeline.Generate(Small with { MaxSequenceLength = 64 });
        GenerationResult longPrompt = pipeline.Generate(Small with { Prompt = string.Join(' ', Enumerable.Repeat("a photo of a cat", 20)), MaxSequenceLength = 8 });
        Assert.False(shortPrompt.PromptTruncated);
        Assert.True(longPrompt.PromptTruncated);
    }

    [Fact]
    public void Unet_only_settings_are_refused_by_name()
    {
        var error = Assert.Throws<InvalidOptionException>(() => FlowMatchingPipeline.Load(TinyFlowModels.Sd3, new PipelineSettings { UNetModelPath = "unet.onnx" }));
        Assert.Equal(nameof(PipelineSettings.UNetModelPath), error.OptionName);
    }

    [Fact]
    public void Each_pipeline_names_the_other_for_a_folder_of_the_other_kind()
    {
        var unetError = Assert.Throws<ModelLoadException>(() => StableDiffusionPipeline.Load(TinyFlowModels.FluxDev));
        Assert.Contains("FlowMatchingPipeline.Load", unetError.Message, StringComparison.Ordinal);
        var flowError = Assert.Throws<ModelLoadException>(() => FlowMatchingPipeline.Load(TinySd.Folder));
        Assert.Contains("StableDiffusionPipeline.Load", flowError.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_flux_folder_without_t5_is_refused_naming_text_encoder_2()
    {
        string folder = TinyFlowModels.CopyWithout(TinyFlowModels.FluxSchnell, "text_encoder_2");
        var error = Assert.Throws<ModelLoadException>(() => FlowMatchingPipeline.Load(folder));
        Assert.Contains("text_encoder_2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_transformer_whose_text_width_differs_from_t5s_is_refused_at_load()
    {
        string folder = TinyFlowModels.CopyWithout(TinyFlowModels.FluxSchnell, "text_encoder_2");
        string t5 = Path.Combine(folder, "text_encoder_2");
        foreach (string file in Directory.EnumerateFiles(Path.Combine(TinyFlowModels.Sd3, "text_encoder_3")))
            File.Copy(file, Path.Combine(Directory.CreateDirectory(t5).FullName, Path.GetFileName(file)));
        var error = Assert.Throws<ModelContractException>(() => FlowMatchingPipeline.Load(folder));
        Assert.Contains("encoder_hidden_states", error.Message, StringComparison.Ordinal);
    }
}
