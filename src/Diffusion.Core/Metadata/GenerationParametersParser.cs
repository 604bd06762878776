using System.Text.Json;
using System.Text.RegularExpressions;

namespace Diffusion.Core.Metadata;

/// <summary>A1111's <c>parse_generation_parameters</c>: prompt lines, a <c>Negative prompt:</c> line, and a settings line.</summary>
internal static partial class GenerationParametersParser
{
    public static GenerationParameters Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > GenerationParameters.MaxLength)
            throw new InvalidOptionException("parameters", $"the infotext is {text.Length} characters; at most {GenerationParameters.MaxLength} are read.");
        string[] lines = text.Trim().Split('\n');
        string last = lines[^1];
        var pairs = Pair().Matches(last);
        int promptLines = lines.Length;
        if (pairs.Count >= 3)
            promptLines--;
        else
            pairs = Pair().Matches("");

        string prompt = "", negative = "";
        bool inNegative = false;
        for (int i = 0; i < promptLines; i++)
        {
            string line = lines[i].Trim();
            if (line.StartsWith("Negative prompt:", StringComparison.Ordinal))
            {
                inNegative = true;
                line = line["Negative prompt:".Length..].Trim();
            }
            if (inNegative)
                negative += (negative.Length == 0 ? "" : "\n") + line;
            else
                prompt += (prompt.Length == 0 ? "" : "\n") + line;
        }

        var fields = new List<KeyValuePair<string, string>>();
        foreach (Match match in pairs)
        {
            string key = match.Groups[1].Value.Trim();
            string value = match.Groups[2].Value;
            if (value.Length >= 2 && value[0] == '"' && value[^1] == '"')
            {
                try
                {
                    value = JsonSerializer.Deserialize<string>(value) ?? "";
                }
                catch (JsonException ex)
                {
                    throw new InvalidOptionException(key, $"the quoted value {value} is not a valid JSON string: {ex.Message}");
                }
            }
            int existing = fields.FindIndex(f => f.Key == key);
            if (existing >= 0)
                fields[existing] = new(key, value); // A1111 keeps the last
            else
                fields.Add(new(key, value));
        }
        return new GenerationParameters { Prompt = prompt, NegativePrompt = negative, Fields = fields };
    }

    // A1111's re_param_code, verbatim; the non-backtracking engine finds the same pairs in time linear in the line (the
    // backtracking one is quadratic on a long line without a colon, and the text comes from untrusted images).
    [GeneratedRegex("""\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)""", RegexOptions.NonBacktracking)]
    private static partial Regex Pair();
}
