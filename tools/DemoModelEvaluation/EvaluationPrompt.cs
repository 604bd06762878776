using System.Text.Json;

namespace Diffusion.Tools.DemoModelEvaluation;

/// <summary>One evaluation caption with the attributes it states, whether its combination was seen in training, and its noise seed.</summary>
/// <param name="Caption">The prompt text.</param>
/// <param name="Split"><c>seen</c> or <c>held-out</c>.</param>
/// <param name="Seed">Seed of the initial noise (torch generator, as the trainer's own evaluation samples).</param>
/// <param name="Expected">The attributes the caption states.</param>
public sealed record EvaluationPrompt(string Caption, string Split, ulong Seed, SceneAttributes Expected)
{
    /// <summary>The split of prompts whose (shape, foreground, background) combination occurs in training.</summary>
    public const string Seen = "seen";

    /// <summary>The split of prompts whose combination was held out of training.</summary>
    public const string HeldOut = "held-out";

    /// <summary>
    /// Reads the trainer's <c>eval_prompts.json</c>: an array of <c>{caption, split, seed, expected: {shape,
    /// foreground, background, size, position}}</c>.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not in that form (the message names the file and entry).</exception>
    public static IReadOnlyList<EvaluationPrompt> LoadAll(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using JsonDocument document = JsonDocument.Parse(File.ReadAllText(path));
        if (document.RootElement.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{path}: expected a JSON array of prompts.");
        var prompts = new List<EvaluationPrompt>();
        int index = 0;
        foreach (JsonElement entry in document.RootElement.EnumerateArray())
        {
            try
            {
                JsonElement expected = entry.GetProperty("expected");
                var attributes = new SceneAttributes(
                    expected.GetProperty("foreground").GetString(), expected.GetProperty("background").GetString(),
                    expected.GetProperty("shape").GetString(), expected.GetProperty("size").GetString(),
                    expected.GetProperty("position").GetString());
                string split = entry.GetProperty("split").GetString() ?? "";
                if (split is not (Seen or HeldOut))
                    throw new InvalidDataException($"split must be '{Seen}' or '{HeldOut}', got '{split}'.");
                prompts.Add(new EvaluationPrompt(entry.GetProperty("caption").GetString() ?? "", split,
                    entry.GetProperty("seed").GetUInt64(), attributes));
            }
            catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException or InvalidDataException)
            {
                throw new InvalidDataException($"{path}: prompt {index} is malformed: {ex.Message}", ex);
            }
            index++;
        }
        return prompts;
    }

    /// <summary>
    /// Picks <paramref name="count"/> prompts spread evenly over each split (half seen, half held-out; an odd count
    /// gives the extra one to seen), keeping file order. Held-out prompts are listed combination by combination,
    /// so the spread keeps every combination in a small selection.
    /// </summary>
    public static IReadOnlyList<EvaluationPrompt> Select(IReadOnlyList<EvaluationPrompt> prompts, int count)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        if (count >= prompts.Count)
            return prompts;
        var seen = new List<EvaluationPrompt>();
        var heldOut = new List<EvaluationPrompt>();
        foreach (EvaluationPrompt prompt in prompts)
            (prompt.Split == Seen ? seen : heldOut).Add(prompt);
        int heldOutCount = Math.Min(count / 2, heldOut.Count);
        int seenCount = Math.Min(count - heldOutCount, seen.Count);
        heldOutCount = Math.Min(count - seenCount, heldOut.Count);
        var selected = new List<EvaluationPrompt>(count);
        selected.AddRange(Spread(seen, seenCount));
        selected.AddRange(Spread(heldOut, heldOutCount));
        return selected;
    }

    private static IEnumerable<EvaluationPrompt> Spread(List<EvaluationPrompt> prompts, int count)
    {
        for (int i = 0; i < count; i++)
            yield return prompts[(int)((long)i * prompts.Count / count)];
    }
}
