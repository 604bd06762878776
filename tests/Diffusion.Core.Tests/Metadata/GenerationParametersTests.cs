using CsCheck;
using Diffusion.Core.Metadata;

namespace Diffusion.Core.Tests.Metadata;

public sealed class GenerationParametersTests
{
    // An infotext as A1111 1.10 writes it (quoted Lora hashes, a comma in the model name, a multi-line prompt).
    private const string A1111 = """
        masterpiece, a lighthouse at dusk, (oil painting:1.2)
        <lora:detail:0.6>
        Negative prompt: blurry, lowres,
        watermark
        Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3141592653, Size: 768x512, Model hash: 6ce0161689, Model: "sd15, pruned", Denoising strength: 0.55, Lora hashes: "detail: 1a2b3c4d5e6f", Hires upscale: 2, Version: v1.10.1
        """;

    [Fact]
    public void Reads_a1111_infotext()
    {
        GenerationParameters parameters = GenerationParameters.Parse(A1111);

        Assert.Equal("masterpiece, a lighthouse at dusk, (oil painting:1.2)\n<lora:detail:0.6>", parameters.Prompt);
        Assert.Equal("blurry, lowres,\nwatermark", parameters.NegativePrompt);
        Assert.Equal(28, parameters.GetInteger(GenerationParameterKeys.Steps));
        Assert.Equal("DPM++ 2M", parameters[GenerationParameterKeys.Sampler]);
        Assert.Equal("Karras", parameters[GenerationParameterKeys.ScheduleType]);
        Assert.Equal(6.5, parameters.GetNumber(GenerationParameterKeys.CfgScale));
        Assert.Equal(3141592653UL, parameters.GetUnsigned(GenerationParameterKeys.Seed));
        Assert.Equal((768, 512), parameters.Size);
        Assert.Equal("sd15, pruned", parameters[GenerationParameterKeys.Model]);
        Assert.Equal("detail: 1a2b3c4d5e6f", parameters[GenerationParameterKeys.LoraHashes]);
        Assert.Equal(0.55, parameters.GetNumber(GenerationParameterKeys.DenoisingStrength));
        Assert.Equal("2", parameters["Hires upscale"]);
        Assert.Equal(12, parameters.Fields.Count);
    }

    [Fact]
    public void Writes_a1111_s_layout_and_quoting()
    {
        var parameters = new GenerationParameters
        {
            Prompt = "a cat",
            NegativePrompt = "dog",
            Fields =
            [
                new("Steps", "20"), new("Sampler", "Euler a"), new("CFG scale", "7"), new("Seed", "42"), new("Size", "512x512"),
                new("Model", "my, model"), new("Lora hashes", "a: 1, b: 2"), new("Prompt", "say \"hi\"\nthere"),
            ],
        };
        Assert.Equal("a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, "
            + "Model: \"my, model\", Lora hashes: \"a: 1, b: 2\", Prompt: \"say \\\"hi\\\"\\nthere\"", parameters.Format());
        Assert.Equal("a cat\nSteps: 1, Seed: 2, Size: 8x8", new GenerationParameters { Prompt = "a cat", Fields = [new("Steps", "1"), new("Seed", "2"), new("Size", "8x8")] }.Format());
    }

    [Fact]
    public void A_text_with_fewer_than_three_settings_is_all_prompt()
    {
        GenerationParameters parameters = GenerationParameters.Parse("a castle\nStyle: gothic, Mood: dark");
        Assert.Equal("a castle\nStyle: gothic, Mood: dark", parameters.Prompt);
        Assert.Empty(parameters.Fields);
    }

    [Fact]
    public void Bad_values_are_errors_naming_the_key()
    {
        GenerationParameters parameters = GenerationParameters.Parse("p\nSteps: many, Seed: -1, Size: big, CFG scale: nan");
        Assert.Equal("Steps", Assert.Throws<InvalidOptionException>(() => parameters.GetInteger("Steps")).OptionName);
        Assert.Equal("Seed", Assert.Throws<InvalidOptionException>(() => parameters.GetUnsigned("Seed")).OptionName);
        Assert.Equal("Size", Assert.Throws<InvalidOptionException>(() => parameters.Size).OptionName);
        Assert.Equal("CFG scale", Assert.Throws<InvalidOptionException>(() => parameters.GetNumber("CFG scale")).OptionName);
        Assert.Throws<InvalidOptionException>(() => GenerationParameters.Parse(new string('a', GenerationParameters.MaxLength + 1)));
    }

    [Fact]
    public void A_long_line_without_a_colon_parses_quickly()
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        GenerationParameters parameters = GenerationParameters.Parse("p\n" + new string('w', GenerationParameters.MaxLength - 10));
        Assert.Empty(parameters.Fields);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
    }

    [Fact]
    public void Formatting_then_parsing_gives_the_same_parameters()
    {
        var key = Gen.String[Gen.Char['a', 'z'], 1, 12].Select(s => "K" + s);
        var value = Gen.OneOf(Gen.String[Gen.Char.AlphaNumeric, 1, 10], Gen.String[1, 20].Where(s => s.Trim().Length > 0 && s == s.Trim()));
        // A field whose value equals its key is written as the bare key, as A1111's create_infotext does, and reads back
        // as no field (its parser needs "key: value"), so such fields are not round-trip material.
        var fields = Gen.Select(key, value).Array[3, 8]
            .Where(a => a.Select(f => f.Item1).Distinct().Count() == a.Length && a.All(f => f.Item1 != f.Item2));
        var prompt = Gen.String[Gen.Char.AlphaNumeric, 1, 30];
        Gen.Select(prompt, prompt, fields).Sample((p, n, f) =>
        {
            var original = new GenerationParameters { Prompt = p, NegativePrompt = n, Fields = [.. f.Select(x => new KeyValuePair<string, string>(x.Item1, x.Item2))] };
            GenerationParameters read = GenerationParameters.Parse(original.Format());
            Assert.Equal(original.Prompt, read.Prompt);
            Assert.Equal(original.NegativePrompt, read.NegativePrompt);
            Assert.Equal(original.Fields, read.Fields);
        }, iter: 2000);
    }

    [Fact]
    public void A_field_whose_value_is_its_key_is_written_bare_like_A1111()
    {
        var parameters = new GenerationParameters { Prompt = "p", Fields = [new("Hires upscale", "Hires upscale"), new("Steps", "2"), new("Seed", "1"), new("RNG", "CPU")] };
        Assert.Equal("p\nHires upscale, Steps: 2, Seed: 1, RNG: CPU", parameters.Format());
        Assert.Equal(["Steps", "Seed", "RNG"], GenerationParameters.Parse(parameters.Format()).Fields.Select(f => f.Key));
    }

    [Fact]
    public void With_replaces_in_place_appends_and_removes()
    {
        var parameters = new GenerationParameters { Fields = [new("Steps", "20"), new("Seed", "1")] };
        Assert.Equal(["Steps=30", "Seed=1"], parameters.With("Steps", "30").Fields.Select(f => $"{f.Key}={f.Value}"));
        Assert.Equal(["Steps=20", "Seed=1", "RNG=CPU"], parameters.With("RNG", "CPU").Fields.Select(f => $"{f.Key}={f.Value}"));
        Assert.Equal(["Seed=1"], parameters.With("Steps", null).Fields.Select(f => $"{f.Key}={f.Value}"));
    }
}
