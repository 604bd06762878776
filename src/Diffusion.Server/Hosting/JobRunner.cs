using System.Globalization;
using Diffusion.Core;
using Diffusion.Core.Imaging;
using Diffusion.Core.Metadata;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Schedulers;
using Diffusion.Imaging.Skia;
using Diffusion.Server.Jobs;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Diffusion.Server.Hosting;

/// <summary>
/// Runs one job on the loaded pipeline: progress (with a latent preview) after each step, PNGs carrying their A1111
/// settings at the end, or a failure or cancellation. Shared by the in-process worker and the RabbitMQ worker.
/// </summary>
internal sealed partial class JobRunner(PipelineHost host, ServerMetrics metrics, IOptions<ServerOptions> options, ILogger<JobRunner> logger)
{
    public void Run(GenerationJob job)
    {
        if (job.CancellationToken.IsCancellationRequested)
        {
            job.Cancelled("cancelled before it started");
            return;
        }
        IDiffusionPipeline pipeline = host.Pipeline;
        GenerationRequest request = job.Request;
        try
        {
            GenerationOptions generation = ToOptions(request, pipeline);
            generation.Validate();
            job.MarkRunning(request.Steps);
            long lastStep = System.Diagnostics.Stopwatch.GetTimestamp();
            var progress = new SynchronousProgress(step =>
            {
                long now = System.Diagnostics.Stopwatch.GetTimestamp();
                metrics.StepTime.Record(System.Diagnostics.Stopwatch.GetElapsedTime(lastStep, now).TotalSeconds);
                lastStep = now;
                job.ReportProgress(step.Step, step.TotalSteps, Preview(step, generation, pipeline));
            });
            GenerationResult result = pipeline.Generate(generation, progress, job.CancellationToken);
            var images = new List<byte[]>();
            var infotexts = new List<string>();
            for (int i = 0; i < result.Images.Count; i++)
            {
                string infotext = Infotext(request, generation, pipeline, result, i);
                infotexts.Add(infotext);
                images.Add(PngTextChunk.Insert(SkiaImageCodec.Encode(result.Images[i], SkiaSharp.SKEncodedImageFormat.Png), "parameters", infotext));
            }
            job.Succeed(images, infotexts, result.Seed);
            Record(job, "succeeded");
        }
        catch (OperationCanceledException)
        {
            job.Cancelled("cancelled while running");
            Record(job, "cancelled");
        }
        catch (Exception ex) when (ex is DiffusionException or ArgumentException)
        {
            job.Fail(ex.Message);
            Record(job, "failed");
            LogJobFailed(logger, job.Id, ex.Message);
        }
    }

    private void Record(GenerationJob job, string outcome)
    {
        metrics.JobLatency.Record((DateTimeOffset.UtcNow - job.Created).TotalSeconds, new KeyValuePair<string, object?>("outcome", outcome));
        metrics.Jobs.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
    }

    private static GenerationOptions ToOptions(GenerationRequest request, IDiffusionPipeline pipeline)
    {
        IScheduler? scheduler = request.Sampler is null ? null : SchedulerCatalog.Create(request.Sampler, pipeline.Scheduler.Config);
        ImageBuffer? init = request.InitImage is null ? null : SkiaImageCodec.Decode(request.InitImage);
        ImageBuffer? mask = request.Mask is null || init is null ? null : Mask(request, init);
        return new GenerationOptions
        {
            Prompt = request.Prompt,
            NegativePrompt = request.NegativePrompt,
            PromptSyntax = request.WeightedPrompt ? Core.TextEncoding.PromptSyntax.Weighted : Core.TextEncoding.PromptSyntax.Plain,
            Steps = request.Steps,
            GuidanceScale = request.GuidanceScale,
            Seed = request.Seed ?? (ulong)Random.Shared.NextInt64(0, uint.MaxValue),
            ImagesPerPrompt = request.BatchSize,
            Scheduler = scheduler,
            InitImage = init,
            Strength = init is null ? null : request.Strength,
            Mask = mask,
            PreserveUnmaskedPixels = mask is not null, // A1111 always pastes the kept region back
            MaskBlur = mask is null ? 0 : request.MaskBlur,
            StepCache = request.StepCache is null ? null : DeepCache.Parse(request.StepCache), // checked by Validate
            // Inpainting defaults to the init image's size (to a multiple of 8), as A1111 and the CLI do.
            Width = request.Width ?? (mask is null ? null : init!.Width - init.Width % 8),
            Height = request.Height ?? (mask is null ? null : init!.Height - init.Height % 8),
        };
    }

    /// <summary>The mask at the init image's size (Lanczos, as A1111 resizes it with the image), inverted when asked.</summary>
    private static ImageBuffer Mask(GenerationRequest request, ImageBuffer init)
    {
        ImageBuffer mask = SkiaImageCodec.Decode(request.Mask!);
        if (mask.Width != init.Width || mask.Height != init.Height)
            mask = ImageOperations.Resize(mask, init.Width, init.Height);
        if (request.InvertMask)
        {
            byte[] pixels = (byte[])mask.Pixels.Clone();
            for (int i = 0; i < pixels.Length; i++)
                pixels[i] = (byte)(255 - pixels[i]);
            mask = new ImageBuffer(mask.Width, mask.Height, pixels);
        }
        return mask;
    }

    /// <summary>A latent preview PNG of the first image every <see cref="ServerOptions.PreviewEvery"/> steps (SD 1.x/2.x latents only).</summary>
    private byte[]? Preview(GenerationProgress step, GenerationOptions generation, IDiffusionPipeline pipeline)
    {
        int every = options.Value.PreviewEvery;
        if (every == 0 || step.Step % every != 0 || step.Latents.IsEmpty || pipeline.Family != Core.Families.ModelFamily.StableDiffusion)
            return null;
        int perImage = step.Latents.Length / generation.ImagesPerPrompt;
        double aspect = (double)(generation.Height ?? generation.InitImage?.Height ?? 1) / (generation.Width ?? generation.InitImage?.Width ?? 1);
        int area = perImage / LatentPreview.LatentChannels;
        int height = (int)Math.Round(Math.Sqrt(area * aspect));
        int width = height == 0 ? 0 : area / height;
        if (width * height * LatentPreview.LatentChannels != perImage)
            return null;
        return SkiaImageCodec.Encode(LatentPreview.ToImage(step.Latents.Span[..perImage], height, width), SkiaSharp.SKEncodedImageFormat.Png);
    }

    private string Infotext(GenerationRequest request, GenerationOptions generation, IDiffusionPipeline pipeline, GenerationResult result, int index)
    {
        var fields = new List<KeyValuePair<string, string>>
        {
            new(GenerationParameterKeys.Steps, request.Steps.ToString(CultureInfo.InvariantCulture)),
            new(GenerationParameterKeys.Sampler, request.Sampler ?? pipeline.Scheduler.Config.ClassName ?? pipeline.Scheduler.GetType().Name),
            new(GenerationParameterKeys.CfgScale, (generation.GuidanceScale ?? pipeline.Family.DefaultGuidanceScale).ToString("0.####", CultureInfo.InvariantCulture)),
            new(GenerationParameterKeys.Seed, result.Seed.ToString(CultureInfo.InvariantCulture)),
            new(GenerationParameterKeys.Size, $"{result.Images[index].Width}x{result.Images[index].Height}"),
            new(GenerationParameterKeys.Model, host.ModelName),
        };
        if (generation.InitImage is not null)
            fields.Add(new(GenerationParameterKeys.DenoisingStrength, (generation.Strength ?? (generation.Mask is null ? pipeline.Family.DefaultImageToImageStrength : pipeline.Family.DefaultInpaintingStrength)).ToString("0.####", CultureInfo.InvariantCulture)));
        if (generation.Mask is not null)
            fields.Add(new(GenerationParameterKeys.MaskBlur, generation.MaskBlur.ToString(CultureInfo.InvariantCulture)));
        if (generation.StepCache is { } cache)
            fields.Add(new(GenerationParameterKeys.StepCache, cache.ToText()));
        if (result.Images.Count > 1)
        {
            fields.Add(new(GenerationParameterKeys.BatchSize, result.Images.Count.ToString(CultureInfo.InvariantCulture)));
            fields.Add(new(GenerationParameterKeys.BatchPosition, index.ToString(CultureInfo.InvariantCulture)));
        }
        fields.Add(new(GenerationParameterKeys.Rng, "CPU"));
        if (!request.WeightedPrompt)
            fields.Add(new(GenerationParameterKeys.PromptSyntax, "plain"));
        fields.Add(new(GenerationParameterKeys.Version, "Diffusion.Server 0.1.0"));
        return new GenerationParameters { Prompt = request.Prompt, NegativePrompt = request.NegativePrompt, Fields = fields }.Format();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "job {JobId} failed: {Error}")]
    private static partial void LogJobFailed(ILogger logger, string jobId, string error);

    private sealed class SynchronousProgress(Action<GenerationProgress> report) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value) => report(value);
    }
}
