using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Diffusion.Core.Schedulers;
using Diffusion.Server.Hosting;
using Diffusion.Server.Jobs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace Diffusion.Server.Api;

/// <summary>
/// AUTOMATIC1111's <c>/sdapi/v1</c> endpoints with the request and response shapes of the original, so existing
/// clients (painting-program plug-ins, chat front-ends, scripts) work unchanged: <c>txt2img</c> and <c>img2img</c>
/// (synchronous: the job is queued and the answer waits for it; a client that hangs up cancels it), <c>samplers</c>,
/// <c>sd-models</c>, <c>options</c>, <c>progress</c>, <c>interrupt</c>, <c>loras</c>.
/// </summary>
internal static class A1111Api
{
    /// <summary>The fields of A1111's StableDiffusionProcessingTxt2Img/Img2Img request bodies that this server reads.</summary>
    public sealed record A1111Request
    {
        [JsonPropertyName("prompt")] public string? Prompt { get; init; }
        [JsonPropertyName("negative_prompt")] public string? NegativePrompt { get; init; }
        [JsonPropertyName("seed")] public long? Seed { get; init; }
        [JsonPropertyName("sampler_name")] public string? SamplerName { get; init; }
        [JsonPropertyName("sampler_index")] public string? SamplerIndex { get; init; }
        [JsonPropertyName("scheduler")] public string? Scheduler { get; init; }
        [JsonPropertyName("batch_size")] public int? BatchSize { get; init; }
        [JsonPropertyName("n_iter")] public int? Iterations { get; init; }
        [JsonPropertyName("steps")] public int? Steps { get; init; }
        [JsonPropertyName("cfg_scale")] public float? CfgScale { get; init; }
        [JsonPropertyName("width")] public int? Width { get; init; }
        [JsonPropertyName("height")] public int? Height { get; init; }
        [JsonPropertyName("denoising_strength")] public double? DenoisingStrength { get; init; }
        [JsonPropertyName("init_images")] public IReadOnlyList<string>? InitImages { get; init; }
        [JsonPropertyName("mask")] public string? Mask { get; init; }
        [JsonPropertyName("mask_blur")] public int? MaskBlur { get; init; }
        [JsonPropertyName("mask_blur_x")] public int? MaskBlurX { get; init; }
        [JsonPropertyName("mask_blur_y")] public int? MaskBlurY { get; init; }
        [JsonPropertyName("inpainting_mask_invert")] public int? InpaintingMaskInvert { get; init; }
        [JsonPropertyName("inpainting_fill")] public int? InpaintingFill { get; init; }
        [JsonPropertyName("inpaint_full_res")] public JsonElement? InpaintFullRes { get; init; }
        [JsonPropertyName("send_images")] public bool? SendImages { get; init; }
    }

    public static void Map(IEndpointRouteBuilder app)
    {
        RouteGroupBuilder api = app.MapGroup("/sdapi/v1").WithTags("a1111");
        api.MapPost("/txt2img", (A1111Request body, JobSubmission submission, HttpContext context) => Generate(body, false, submission, context));
        api.MapPost("/img2img", (A1111Request body, JobSubmission submission, HttpContext context) => Generate(body, true, submission, context));
        api.MapGet("/samplers", (IModelInfo host) =>
            (host.IsFlowMatching ? SchedulerCatalog.FlowMatchingNames : SchedulerCatalog.Names)
                .Select(name => new { name, aliases = Array.Empty<string>(), options = new Dictionary<string, string>() }));
        api.MapGet("/sd-models", (IModelInfo host, IOptions<ServerOptions> options) => new[]
        {
            new { title = host.ModelName, model_name = host.ModelName, hash = (string?)null, sha256 = (string?)null, filename = options.Value.Model, config = (string?)null },
        });
        api.MapGet("/options", (IModelInfo host) => new Dictionary<string, object?>
        {
            ["sd_model_checkpoint"] = host.ModelName,
            ["samples_format"] = "png",
        });
        api.MapPost("/options", (Dictionary<string, JsonElement> body, IModelInfo host) =>
        {
            // One model per server process: asking for another is refused rather than ignored.
            if (body.TryGetValue("sd_model_checkpoint", out JsonElement model) && model.GetString() is { } name && name != host.ModelName)
                return JobSubmission.BadRequest("sd_model_checkpoint", $"this server runs '{host.ModelName}' only; start a server per model.");
            return Results.Ok();
        });
        api.MapGet("/progress", (JobStore store, IJobQueue queue) =>
        {
            GenerationJob? running = store.Running;
            double progress = running is { TotalSteps: > 0 } ? (double)running.Step / running.TotalSteps : 0;
            double? eta = running is { Started: { } started, Step: > 0 }
                ? (DateTimeOffset.UtcNow - started).TotalSeconds / running.Step * (running.TotalSteps - running.Step) : null;
            return Results.Json(new
            {
                progress,
                eta_relative = eta ?? 0,
                state = new
                {
                    skipped = false,
                    interrupted = false,
                    job = running?.Id ?? "",
                    job_count = queue.Count + (running is null ? 0 : 1),
                    job_timestamp = running?.Created.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture) ?? "0",
                    job_no = 0,
                    sampling_step = running?.Step ?? 0,
                    sampling_steps = running?.TotalSteps ?? 0,
                },
                current_image = running?.LatestPreview is { } preview ? Convert.ToBase64String(preview) : null,
                textinfo = (string?)null,
            });
        });
        api.MapPost("/interrupt", (JobStore store, JobSubmission submission) =>
        {
            if (store.Running is { } running)
                submission.Cancel(running);
            return Results.Ok();
        });
        api.MapGet("/loras", (IOptions<ServerOptions> options) =>
            options.Value.LoraDirectory is { } folder && Directory.Exists(folder)
                ? Directory.EnumerateFiles(folder, "*.safetensors").Order(StringComparer.Ordinal)
                    .Select(path => new { name = Path.GetFileNameWithoutExtension(path), alias = Path.GetFileNameWithoutExtension(path), path, metadata = new Dictionary<string, string>() })
                    .ToList()
                : []);
    }

    private static async Task<IResult> Generate(A1111Request body, bool imageToImage, JobSubmission submission, HttpContext context)
    {
        if (InpaintingRefusal(body, imageToImage) is { } refusal)
            return refusal;
        if (ToRequest(body, imageToImage) is not { } request)
            return body.Mask is not null && Base64Image.Decode(body.Mask) is null
                ? JobSubmission.BadRequest("mask", "mask is not valid base64.")
                : JobSubmission.BadRequest("init_images", imageToImage ? "img2img needs one base64 image in init_images." : "init_images is not valid base64.");
        (GenerationJob? job, IResult? full) = submission.Submit(request);
        if (full is not null)
            return full;
        using (context.RequestAborted.Register(() => submission.Cancel(job!)))
            await job!.Completion.WaitAsync(context.RequestAborted).ConfigureAwait(false);
        return job.State switch
        {
            JobState.Succeeded => Results.Json(new
            {
                images = body.SendImages == false ? [] : job.Images.Select(Convert.ToBase64String).ToList(),
                parameters = body,
                info = JsonSerializer.Serialize(new
                {
                    prompt = request.Prompt,
                    all_prompts = Enumerable.Repeat(request.Prompt, job.Images.Count),
                    negative_prompt = request.NegativePrompt,
                    seed = job.Seed,
                    all_seeds = Enumerable.Repeat(job.Seed, job.Images.Count),
                    width = request.Width,
                    height = request.Height,
                    sampler_name = request.Sampler,
                    cfg_scale = request.GuidanceScale,
                    steps = request.Steps,
                    batch_size = request.BatchSize,
                    denoising_strength = request.Strength,
                    infotexts = job.Infotexts,
                }),
            }),
            JobState.Cancelled when job.Error == GenerationWorker.ShutdownReason => Results.Problem(job.Error, statusCode: StatusCodes.Status503ServiceUnavailable),
            JobState.Cancelled => Results.Problem(job.Error ?? "cancelled", statusCode: 499),
            _ => Results.Problem(job.Error, title: "generation failed", statusCode: StatusCodes.Status422UnprocessableEntity),
        };
    }

    /// <summary>
    /// The inpainting options this server does not run, refused by name rather than ignored: masked content other than
    /// the original image (<c>inpainting_fill</c> 0 fill, 2 latent noise, 3 latent nothing) and "only masked"
    /// (<c>inpaint_full_res</c> true). Absent, they mean "original" and "whole picture", the web UI's defaults.
    /// </summary>
    internal static IResult? InpaintingRefusal(A1111Request body, bool imageToImage)
    {
        if (body.Mask is null)
            return null;
        if (!imageToImage)
            return JobSubmission.BadRequest("mask", "a mask needs img2img (/sdapi/v1/img2img with init_images).");
        if (body.InpaintingFill is int fill && fill != 1)
            return JobSubmission.BadRequest("inpainting_fill", $"masked content {fill} is not served; this server inpaints from the original image (1).");
        if (body.InpaintFullRes is { } fullRes && fullRes.ValueKind is JsonValueKind.True || body.InpaintFullRes is { ValueKind: JsonValueKind.Number } number && !(number.TryGetInt32(out int flag) && flag == 0))
            return JobSubmission.BadRequest("inpaint_full_res", "\"only masked\" inpainting is not served; send inpaint_full_res false (whole picture).");
        if (body.InpaintingMaskInvert is int invert && invert is not (0 or 1))
            return JobSubmission.BadRequest("inpainting_mask_invert", $"{invert} is neither 0 nor 1.");
        return null;
    }

    internal static GenerationRequest? ToRequest(A1111Request body, bool imageToImage)
    {
        byte[]? init = null, mask = null;
        if (body.InitImages is { Count: > 0 } images && (init = Base64Image.Decode(images[0])) is null)
            return null;
        if (imageToImage && body.Mask is { } maskText && (mask = Base64Image.Decode(maskText)) is null)
            return null;
        if (imageToImage && init is null)
            return null;
        string? sampler = body.SamplerName ?? body.SamplerIndex;
        if (sampler is not null && body.Scheduler is { } schedule && schedule != "Automatic")
            sampler = $"{sampler} {schedule}";
        return new GenerationRequest
        {
            Prompt = body.Prompt ?? string.Empty,
            NegativePrompt = body.NegativePrompt ?? string.Empty,
            Steps = body.Steps ?? 20,
            GuidanceScale = body.CfgScale ?? 7f,
            Seed = body.Seed is long seed && seed >= 0 ? (ulong)seed : null,
            Width = body.Width ?? (init is null ? 512 : null),
            Height = body.Height ?? (init is null ? 512 : null),
            Sampler = sampler,
            BatchSize = (body.BatchSize ?? 1) * Math.Max(1, body.Iterations ?? 1),
            InitImage = imageToImage ? init : null,
            Strength = imageToImage ? body.DenoisingStrength ?? 0.75 : null,
            Mask = mask,
            InvertMask = body.InpaintingMaskInvert == 1,
            // A1111 blurs by mask_blur_x/y (both default to mask_blur, 4); one radius here, the larger.
            MaskBlur = mask is null ? 0 : Math.Max(body.MaskBlurX ?? body.MaskBlur ?? 4, body.MaskBlurY ?? body.MaskBlur ?? 4),
            WeightedPrompt = true, // A1111 always reads its prompt syntax
        };
    }
}
