using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using CsCheck;
using Diffusion.Core.Execution;
using Diffusion.Core.Pipelines;
using Diffusion.Core.Randomness;

namespace Diffusion.CommandLine.Tests;

/// <summary>The generation options every front end shares: each bad value is one error naming its option, never an exception.</summary>
public sealed class GenerationCommandLineTests
{
    private static (GenerationCommandLine Options, ParseResult Result) Parse(params string[] args)
    {
        var options = new GenerationCommandLine(new GenerationArguments { Model = "m", Prompt = "p" }, imageInputs: true, maskInputs: true);
        var root = new RootCommand("test");
        options.AddTo(root);
        return (options, root.Parse(args));
    }

    [Theory]
    [InlineData("--guidance", "abc")]
    [InlineData("--guidance", "1e30")]
    [InlineData("--guidance", "NaN")]
    [InlineData("--seed", "-1")]
    [InlineData("--seed", "1.5")]
    [InlineData("--width", "abc")]
    [InlineData("--width", "500")]
    [InlineData("--height", "8200")]
    [InlineData("--steps", "1.5")]
    [InlineData("--steps", "0")]
    [InlineData("--steps", "1001")]
    [InlineData("--count", "65")]
    [InlineData("--threads", "20000")]
    [InlineData("--threads", "0")]
    [InlineData("--strength", "1.5")]
    [InlineData("--mask-blur", "-1")]
    [InlineData("--lora", "a.safetensors:Infinity")]
    [InlineData("--deep-cache", "0")]
    [InlineData("--deep-cache", "3:-1")]
    [InlineData("--deep-cache", "3:1:2")]
    [InlineData("--deep-cache", "x")]
    public void A_bad_value_is_one_error_naming_the_option(string option, string value)
    {
        (_, ParseResult result) = Parse(option, value);
        ParseError error = Assert.Single(result.Errors);
        Assert.StartsWith(option, error.Message, StringComparison.Ordinal);
        Assert.Contains(value, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Defaults_come_from_the_front_end_and_values_from_the_command_line()
    {
        (GenerationCommandLine options, ParseResult result) = Parse("--steps", "7", "--guidance", "3.5", "--seed", "18446744073709551615",
            "--width", "512", "--rng", "numpy", "--lora", "a.safetensors:0.5", "--lora", "/x/b.safetensors", "--strength", "0.25");
        Assert.Empty(result.Errors);
        GenerationArguments arguments = options.Bind(result);
        Assert.Equal(("m", "p", 7, (float?)3.5f, ulong.MaxValue, 512, (int?)null), (arguments.Model, arguments.Prompt, arguments.Steps, arguments.Guidance, arguments.Seed, arguments.Width, arguments.Height));
        Assert.Equal(RandomSourceKind.Numpy, arguments.Random);
        Assert.Equal([new LoraFile("a.safetensors", 0.5f), new LoraFile("/x/b.safetensors", 1f)], arguments.Loras);
        Assert.Equal(0.25, arguments.Strength);
        arguments.ToGenerationOptions().Validate();
    }

    [Theory]
    [InlineData("3", 3, 0)]
    [InlineData("2:1", 2, 1)]
    public void Deep_cache_reads_an_interval_and_an_optional_point(string value, int interval, int point)
    {
        (GenerationCommandLine options, ParseResult result) = Parse("--deep-cache", value);
        Assert.Empty(result.Errors);
        GenerationOptions generation = options.Bind(result).ToGenerationOptions();
        Assert.Equal(new DeepCache(interval, point), generation.StepCache);
        Assert.Null(options.Bind(Parse().Result).StepCache); // off unless asked for
    }

    [Fact]
    public void Binding_a_parse_with_errors_is_refused()
    {
        (GenerationCommandLine options, ParseResult result) = Parse("--steps", "x");
        Assert.Throws<InvalidOperationException>(() => options.Bind(result));
    }

    [Fact]
    public void Steps_are_accepted_exactly_from_1_to_1000()
        => Gen.Int.Sample(steps =>
        {
            (_, ParseResult result) = Parse("--steps", steps.ToString(CultureInfo.InvariantCulture));
            return (result.Errors.Count == 0) == steps is >= 1 and <= 1000;
        });

    [Fact]
    public void Sizes_are_accepted_exactly_as_multiples_of_8_from_8_to_8192()
        => Gen.Int[-100, 9000].Sample(size =>
        {
            (_, ParseResult result) = Parse("--width", size.ToString(CultureInfo.InvariantCulture));
            return (result.Errors.Count == 0) == (size is >= 8 and <= 8192 && size % 8 == 0);
        });

    [Fact]
    public void Guidance_accepted_on_the_command_line_is_accepted_by_GenerationOptions()
        => Gen.Float.Sample(guidance =>
        {
            (GenerationCommandLine options, ParseResult result) = Parse("--guidance", guidance.ToString("R", CultureInfo.InvariantCulture));
            if (result.Errors.Count > 0)
                return !(float.IsFinite(guidance) && guidance >= 0 && guidance <= GenerationOptions.MaxGuidanceScale);
            options.Bind(result).ToGenerationOptions().Validate();
            return true;
        });

    [Fact]
    public void Thread_counts_accepted_on_the_command_line_are_accepted_by_SessionSettings()
        => Gen.Int[-10, 200].Sample(threads =>
        {
            (GenerationCommandLine options, ParseResult result) = Parse("--threads", threads.ToString(CultureInfo.InvariantCulture));
            if (result.Errors.Count > 0)
                return threads < 1 || threads > SessionSettings.MaxThreads;
            new SessionSettings { IntraOpThreads = options.Bind(result).Threads }.Validate();
            return true;
        });

    [Fact]
    public void Any_token_list_parses_without_an_exception()
    {
        string[] names = ["--steps", "--guidance", "--seed", "--width", "--threads", "--strength", "--lora", "--rng", "--count", "--mask-blur", "x", "--"];
        Gen.Select(Gen.OneOf<string>(names), Gen.String).Array[0, 6].Sample(pairs =>
        {
            string[] args = [.. pairs.SelectMany(p => new[] { p.Item1, p.Item2 })];
            (GenerationCommandLine options, ParseResult result) = Parse(args);
            if (result.Errors.Count == 0)
                options.Bind(result);
        });
    }

    [Fact]
    public void Single_file_options_bind_and_a_prediction_type_is_checked()
    {
        (GenerationCommandLine options, ParseResult result) = Parse("--model", "x.safetensors", "--config", "cfg", "--vae", "v.safetensors", "--prediction-type", "v_prediction");
        Assert.Empty(result.Errors);
        GenerationArguments arguments = options.Bind(result);
        Assert.Equal(("x.safetensors", "cfg", "v.safetensors", "v_prediction"), (arguments.Model, arguments.ConfigDirectory, arguments.Vae, arguments.PredictionType));

        (_, ParseResult bad) = Parse("--prediction-type", "v");
        Assert.Contains("'v'", Assert.Single(bad.Errors).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ConfigDirectory", "--config")]
    [InlineData("VaePath", "--vae")]
    [InlineData("PredictionType", "--prediction-type")]
    [InlineData("Strength", "--strength")]
    [InlineData("StepCache", "--deep-cache")]
    [InlineData("Logger", null)]
    public void Library_option_names_map_to_the_command_line_options_that_set_them(string name, string? option)
    {
        Assert.Equal(option, GenerationCommandLine.CommandLineName(name));
        if (option is not null)
        {
            (GenerationCommandLine options, _) = Parse();
            Assert.Contains(option, options.Options.Select(o => o.Name));
        }
    }
}
