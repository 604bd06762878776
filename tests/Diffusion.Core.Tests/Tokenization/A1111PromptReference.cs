using System.Text.Json;

namespace Diffusion.Core.Tests.Tokenization;

/// <summary>
/// TestData/prompts/a1111_prompts.json: the AUTOMATIC1111 web UI's own <c>parse_prompt_attention</c> and
/// <c>tokenize_line</c> run on the prompts listed in tools/reference-data/prompts/generate_prompt_reference.py.
/// </summary>
internal static class A1111PromptReference
{
    private static readonly Lazy<JsonDocument> s_document = new(() =>
        JsonDocument.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "TestData", "prompts", "a1111_prompts.json"))));

    /// <summary>A parse case: the prompt and the web UI's (text, float64 weight) pieces.</summary>
    public static (string Prompt, IReadOnlyList<(string Text, double Weight)> Fragments) ParseCase(int index)
    {
        JsonElement item = s_document.Value.RootElement.GetProperty("parse")[index];
        var fragments = new List<(string, double)>();
        foreach (JsonElement pair in item.GetProperty("fragments").EnumerateArray())
            fragments.Add((pair[0].GetString()!, pair[1].GetDouble()));
        return (item.GetProperty("prompt").GetString()!, fragments);
    }

    /// <summary>A chunk case: the prompt, each chunk's ids and multipliers, and the web UI's token count.</summary>
    public static (string Prompt, int[][] Tokens, double[][] Multipliers, int TokenCount) ChunkCase(int index)
    {
        JsonElement item = s_document.Value.RootElement.GetProperty("chunks")[index];
        int[][] tokens = [.. item.GetProperty("tokens").EnumerateArray().Select(c => c.EnumerateArray().Select(t => t.GetInt32()).ToArray())];
        double[][] multipliers = [.. item.GetProperty("multipliers").EnumerateArray().Select(c => c.EnumerateArray().Select(m => m.GetDouble()).ToArray())];
        return (item.GetProperty("prompt").GetString()!, tokens, multipliers, item.GetProperty("token_count").GetInt32());
    }

    /// <summary>Indices of the parse cases.</summary>
    public static TheoryData<int> ParseCaseIndices() => Indices("parse");

    /// <summary>Indices of the chunk cases.</summary>
    public static TheoryData<int> ChunkCaseIndices() => Indices("chunks");

    private static TheoryData<int> Indices(string key)
    {
        var data = new TheoryData<int>();
        int count = s_document.Value.RootElement.GetProperty(key).GetArrayLength();
        for (int i = 0; i < count; i++)
            data.Add(i);
        return data;
    }
}
