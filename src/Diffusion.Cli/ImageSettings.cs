using System.Globalization;
using Diffusion.CommandLine;
using Diffusion.Core.Metadata;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Randomness;

namespace Diffusion.Cli;

/// <summary>
/// The settings an image carries (A1111's infotext in the PNG's <c>parameters</c> chunk): written from a generation,
/// and read back by <c>generate --from</c> into the arguments that make the same image again.
/// </summary>
internal static class ImageSettings
{
    public const string Version = "Diffusion.Core 0.1.0";

    /// <summary>The infotext of image <paramref name="index"/> of a generation.</summary>
    public static GenerationParameters Describe(GenerationArguments arguments, GenerationOptions options, IDiffusionPipeline pipeline,
        GenerationResult result, int index, string modelName, string? modelHash, IReadOnlyList<(string Name, string Hash)> loras)
    {
        string Number(double value) => value.ToString("0.####", CultureInfo.InvariantCulture);
        var fields = new List<KeyValuePair<string, string>>
        {
            new(GenerationParameterKeys.Steps, arguments.Steps.ToString(CultureInfo.InvariantCulture)),
            new(GenerationParameterKeys.Sampler, arguments.Scheduler ?? pipeline.Scheduler.Config.ClassName ?? pipeline.Scheduler.GetType().Name),
            new(GenerationParameterKeys.CfgScale, Number(options.GuidanceScale ?? pipeline.Family.DefaultGuidanceScale)),
            new(GenerationParameterKeys.Seed, result.Seed.ToString(CultureInfo.InvariantCulture)),
            new(GenerationParameterKeys.Size, $"{result.Images[index].Width}x{result.Images[index].Height}"),
        };
        if (modelHash is not null)
            fields.Add(new(GenerationParameterKeys.ModelHash, modelHash));
        fields.Add(new(GenerationParameterKeys.Model, modelName));
        if (options.InitImage is not null)
        {
            double strength = options.Strength ?? (options.Mask is null ? pipeline.Family.DefaultImageToImageStrength : pipeline.Family.DefaultInpaintingStrength);
            fields.Add(new(GenerationParameterKeys.DenoisingStrength, Number(strength)));
        }
        if (options.Mask is not null)
            fields.Add(new(GenerationParameterKeys.MaskBlur, options.MaskBlur.ToString(CultureInfo.InvariantCulture)));
        if (result.Images.Count > 1)
        {
            fields.Add(new(GenerationParameterKeys.BatchSize, result.Images.Count.ToString(CultureInfo.InvariantCulture)));
            fields.Add(new(GenerationParameterKeys.BatchPosition, index.ToString(CultureInfo.InvariantCulture)));
        }
        if (loras.Count > 0)
            fields.Add(new(GenerationParameterKeys.LoraHashes, string.Join(", ", loras.Select(l => $"{l.Name}: {l.Hash}"))));
        fields.Add(new(GenerationParameterKeys.Rng, arguments.Random switch
        {
            RandomSourceKind.Torch => "CPU",     // A1111's "CPU" source is torch's CPU generator, which this one reproduces
            RandomSourceKind.Numpy => "numpy",
            _ => "fast",
        }));
        if (!arguments.Weighted)
            fields.Add(new(GenerationParameterKeys.PromptSyntax, "plain"));
        if (options.StepCache is { } cache)
            fields.Add(new(GenerationParameterKeys.StepCache, cache.ToText()));
        fields.Add(new(GenerationParameterKeys.Version, Version));
        return new GenerationParameters { Prompt = arguments.Prompt, NegativePrompt = arguments.NegativePrompt, Fields = fields };
    }

    /// <summary>
    /// The arguments an image's settings give, for the options <paramref name="given"/> does not name (the command line
    /// wins). Settings that cannot be reproduced exactly are refused or reported in <paramref name="warnings"/>.
    /// </summary>
    /// <returns>The arguments, and the batch position to keep (null: every image).</returns>
    public static (GenerationArguments Arguments, int? BatchPosition) Apply(GenerationParameters settings, GenerationArguments arguments,
        Func<string, bool> given, List<string> warnings)
    {
        GenerationArguments a = arguments;
        if (!given("--prompt"))
            a = a with { Prompt = settings.Prompt };
        if (!given("--negative"))
            a = a with { NegativePrompt = settings.NegativePrompt };
        if (!given("--steps") && settings.GetInteger(GenerationParameterKeys.Steps) is long steps)
            a = a with { Steps = checked((int)steps) };
        if (!given("--guidance") && settings.GetNumber(GenerationParameterKeys.CfgScale) is double cfg)
            a = a with { Guidance = (float)cfg };
        if (!given("--seed") && settings.GetUnsigned(GenerationParameterKeys.Seed) is ulong seed)
            a = a with { Seed = seed };
        if (settings.Size is (int width, int height))
        {
            if (!given("--width"))
                a = a with { Width = width };
            if (!given("--height"))
                a = a with { Height = height };
        }
        if (!given("--scheduler") && settings[GenerationParameterKeys.Sampler] is { } sampler)
        {
            string? schedule = settings[GenerationParameterKeys.ScheduleType];
            a = a with { Scheduler = schedule is null or "Automatic" ? sampler : $"{sampler} {schedule}" };
        }
        if (!given("--weighted"))
            a = a with { Weighted = settings[GenerationParameterKeys.PromptSyntax] != "plain" };
        if (!given("--rng"))
        {
            switch (settings[GenerationParameterKeys.Rng])
            {
                case "CPU":
                    a = a with { Random = RandomSourceKind.Torch };
                    break;
                case "numpy":
                    a = a with { Random = RandomSourceKind.Numpy };
                    break;
                case "fast":
                    a = a with { Random = RandomSourceKind.Fast };
                    break;
                case var other:
                    a = a with { Random = RandomSourceKind.Torch };
                    warnings.Add($"the image's noise came from A1111's {other ?? "GPU"} generator, which no CPU code reproduces; torch's CPU generator is used (A1111's \"RNG: CPU\"), so the image will differ.");
                    break;
            }
        }
        if (settings.GetNumber(GenerationParameterKeys.DenoisingStrength) is double strength)
        {
            if (a.Image is null)
                throw new ArgumentException($"--from: the image was made from a starting image (Denoising strength {strength.ToString(CultureInfo.InvariantCulture)}); give that image with --image{(settings[GenerationParameterKeys.MaskBlur] is null ? "" : " and its mask with --mask")}.");
            if (!given("--strength"))
                a = a with { Strength = strength };
        }
        if (!given("--mask-blur") && settings.GetInteger(GenerationParameterKeys.MaskBlur) is long blur)
            a = a with { MaskBlur = checked((int)blur) };
        if (!given("--deep-cache") && settings[GenerationParameterKeys.StepCache] is string cache)
        {
            try
            {
                a = a with { StepCache = DeepCache.Parse(cache) };
            }
            catch (FormatException error)
            {
                throw new ArgumentException($"--from: the image's {GenerationParameterKeys.StepCache}: {error.Message}", error);
            }
        }
        int? position = null;
        if (!given("--count") && settings.GetInteger(GenerationParameterKeys.BatchSize) is long batch && batch > 1)
        {
            a = a with { Count = checked((int)batch) };
            position = checked((int)(settings.GetInteger(GenerationParameterKeys.BatchPosition) ?? 0));
            if (position < 0 || position >= batch)
                throw new ArgumentException($"--from: Batch pos {position} is outside the batch of {batch}.");
        }
        return (a, position);
    }
}
