using System.Diagnostics;
using Diffusion.Core.Imaging;
using Diffusion.Core.Randomness;
using Diffusion.Core.Schedulers;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Pipelines;

/// <summary>The stages of one call after its shape is known: conditioning, latent start, the shared denoising loop, the result.</summary>
public sealed partial class StableDiffusionPipeline
{
    /// <summary>What a call settled before any model runs.</summary>
    private sealed record CallShape(int Width, int Height, int Batch, bool Guided, int ImagesPerCall, IScheduler Scheduler,
        IRandomSource Random, ulong Seed, long StartTimestamp);

    /// <summary>What the stages before decoding produced.</summary>
    private sealed record Stages(PromptConditioning Conditioning, LatentInitializer.Result LatentStart, DenoisingLoop Loop, long SetupSchedulerTicks, int CachedSteps)
    {
        public float[] Latents => LatentStart.Latents;
    }

    /// <summary>Encodes the prompts for the family, starts the latents for the task and runs the denoising loop.</summary>
    private Stages Denoise(GenerationOptions options, CallShape call, string promptText, string negativeText, RunOptions runOptions,
        IProgress<GenerationProgress>? progress, CancellationToken cancellationToken)
    {
        (int width, int height) = (call.Width, call.Height);
        PromptConditioning conditioning = _xl is null
            ? PromptConditioning.Encode(_models, options, promptText, negativeText, call.Batch, call.Guided, runOptions, _logger)
            : XLPromptConditioning.Encode(_models, _xl, options, promptText, negativeText, call.Batch, call.Guided, width, height, runOptions, _logger);

        long s0 = Stopwatch.GetTimestamp();
        LatentInitializer.Result latentStart = new LatentInitializer(_models, VaeScalingFactor, Family).Start(options, width, height, call.Scheduler, call.Random, runOptions);
        long setupSchedulerTicks = Stopwatch.GetTimestamp() - s0 - latentStart.EncoderTicks - latentStart.ImagePreparationTicks;
        DenoisingLoop loop = latentStart.Loop;
        IDenoiser denoiser = CreateDenoiser(options, call, conditioning);
        try
        {
            loop.Run(denoiser, latentStart.Latents, call.Batch,
                call.Guided ? options.GuidanceScale!.Value : 1f, call.ImagesPerCall, call.Scheduler, latentStart.StartIndex, call.Random, runOptions,
                progress, call.StartTimestamp, cancellationToken);
        }
        catch (DiffusionException error) when (error.InnerException is OnnxRuntimeException && (width / 8 % 8 != 0 || height / 8 % 8 != 0))
        {
            throw GenerationShape.SizeNotSupported(options, width, height, error);
        }
        if (denoiser is DeepCacheDenoiser cached)
        {
            _models.ReleaseIfSequential(cached.Unets.Full);
            _models.ReleaseIfSequential(cached.Unets.Cached);
        }
        _models.ReleaseIfSequential(UNet);
        cancellationToken.ThrowIfCancellationRequested();
        return new Stages(conditioning, latentStart, loop, setupSchedulerTicks, (denoiser as DeepCacheDenoiser)?.CachedSteps ?? 0);
    }

    /// <summary>The UNet denoiser of a call: the pipeline's UNet, or with <see cref="GenerationOptions.StepCache"/> its cut pair.</summary>
    private IDenoiser CreateDenoiser(GenerationOptions options, CallShape call, PromptConditioning conditioning)
    {
        int modelBatch = call.Guided ? 2 * call.Batch : call.Batch;
        UNetDenoiser Over(Models.UNet unet, ControlNetConditioner? controlNet) => new(unet, conditioning.Embeddings, conditioning.SequenceLength, modelBatch,
            call.ImagesPerCall, call.Height / 8, call.Width / 8, conditioning.Added, controlNet);
        if (options.StepCache is not DeepCache cache)
        {
            _models.ReleaseStepCacheUNets();
            return Over(UNet, ControlNetConditioner.Create(UNet, options.ControlNets, call.Width, call.Height, call.ImagesPerCall));
        }
        DeepCacheUNets unets = _models.StepCacheUNets(cache.CachePoint);
        return new DeepCacheDenoiser(cache, unets, Over(unets.Full, null), Over(unets.Cached, null), modelBatch, call.ImagesPerCall);
    }

    private GenerationResult BuildResult(GenerationOptions options, CallShape call, Stages stages, ImageBuffer[] images,
        long tokenizerTicks, long decoderTicks, long conversionTicks)
    {
        LatentInitializer.Result latentStart = stages.LatentStart;
        var timings = new GenerationTimings
        {
            Tokenizer = Stopwatch.GetElapsedTime(0, tokenizerTicks),
            TextEncoder = Stopwatch.GetElapsedTime(0, stages.Conditioning.EncoderTicks),
            UNet = Stopwatch.GetElapsedTime(0, stages.Loop.DenoiserTicks),
            Scheduler = Stopwatch.GetElapsedTime(0, stages.Loop.SchedulerTicks + stages.SetupSchedulerTicks),
            VaeEncoder = Stopwatch.GetElapsedTime(0, latentStart.EncoderTicks),
            VaeDecoder = Stopwatch.GetElapsedTime(0, decoderTicks),
            ImageConversion = Stopwatch.GetElapsedTime(0, conversionTicks + latentStart.ImagePreparationTicks),
            Total = Stopwatch.GetElapsedTime(call.StartTimestamp),
        };
        if (_logger is not null)
            PipelineLog.Generated(_logger, call.Batch, call.Width, call.Height, options.Steps, call.Seed, timings);
        return new GenerationResult(images, stages.Latents, [call.Batch, 4, call.Height / 8, call.Width / 8], call.Seed,
            stages.Conditioning.Conditional.Truncated, call.Guided && stages.Conditioning.Unconditional.Truncated, timings)
        {
            DenoisingSteps = Math.Max(Math.Min(latentStart.EndIndex, call.Scheduler.Timesteps.Length) - latentStart.StartIndex, 0),
            LoraReports = _adapters.Reports,
            CachedSteps = stages.CachedSteps,
        };
    }
}
