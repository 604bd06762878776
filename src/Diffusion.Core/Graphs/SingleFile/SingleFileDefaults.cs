using Diffusion.Core.Graphs.Architectures;

namespace Diffusion.Core.Graphs.SingleFile;

/// <summary>
/// What a single-file checkpoint of each family cannot say, as the published diffusers configs say it (the ones
/// diffusers' <c>from_single_file</c> falls back to): the UNet's heads and norm groups, the VAE's scaling, the scheduler,
/// the default image size.
/// </summary>
internal static class SingleFileDefaults
{
    /// <summary>The published UNet config of the family, with the in-channels the file's <c>conv_in</c> has (9: inpainting).</summary>
    public static UNetConfig UNet(SingleFileKind kind, int inChannels) => kind switch
    {
        SingleFileKind.StableDiffusion1 => UNetConfig.StableDiffusion15(inChannels),
        SingleFileKind.StableDiffusion2 => UNetConfig.StableDiffusion21 with { InChannels = inChannels },
        SingleFileKind.StableDiffusionXL => UNetConfig.StableDiffusionXL with { InChannels = inChannels },
        _ => UNetConfig.StableDiffusionXLRefiner with { InChannels = inChannels },
    };

    /// <summary>The SD VAE; SDXL's scales latents by 0.13025 and must run in float32 (force_upcast).</summary>
    public static (float ScalingFactor, bool ForceUpcast) Vae(SingleFileKind kind)
        => kind is SingleFileKind.StableDiffusionXL or SingleFileKind.StableDiffusionXLRefiner ? (0.13025f, true) : (0.18215f, false);

    /// <summary>sample_size × 8 of the published config: 512 (SD 1.x), 768 (SD 2.1, the 768-v model), 1024 (SDXL).</summary>
    public static int ImageSize(SingleFileKind kind) => kind switch
    {
        SingleFileKind.StableDiffusion1 => 512,
        SingleFileKind.StableDiffusion2 => 768,
        _ => 1024,
    };

    /// <summary>
    /// The published scheduler config: PNDM (SD 1.5), DDIM with v-prediction (SD 2.1 768-v, diffusers' single-file default
    /// for SD 2.x), Euler (SDXL). <paramref name="predictionType"/> (from the file's metadata) replaces the prediction type.
    /// </summary>
    public static string SchedulerJson(SingleFileKind kind, string? predictionType)
    {
        string json = kind switch
        {
            SingleFileKind.StableDiffusion1 => """{"_class_name":"PNDMScheduler","beta_end":0.012,"beta_schedule":"scaled_linear","beta_start":0.00085,"clip_sample":false,"num_train_timesteps":1000,"set_alpha_to_one":false,"skip_prk_steps":true,"steps_offset":1,"trained_betas":null}""",
            SingleFileKind.StableDiffusion2 => """{"_class_name":"DDIMScheduler","beta_end":0.012,"beta_schedule":"scaled_linear","beta_start":0.00085,"clip_sample":false,"num_train_timesteps":1000,"prediction_type":"v_prediction","set_alpha_to_one":false,"skip_prk_steps":true,"steps_offset":1,"trained_betas":null}""",
            _ => """{"_class_name":"EulerDiscreteScheduler","beta_end":0.012,"beta_schedule":"scaled_linear","beta_start":0.00085,"clip_sample":false,"interpolation_type":"linear","num_train_timesteps":1000,"prediction_type":"epsilon","sample_max_value":1.0,"set_alpha_to_one":false,"skip_prk_steps":true,"steps_offset":1,"timestep_spacing":"leading","trained_betas":null,"use_karras_sigmas":false}""",
        };
        if (predictionType is null)
            return json;
        var node = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        node["prediction_type"] = predictionType;
        return node.ToJsonString();
    }
}
