using Diffusion.Core.Adapters;
using Diffusion.Core.Execution;
using Diffusion.Core.Models;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Weights;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// Makes a pipeline's sessions match a call's LoRA set: <see cref="PipelineSettings.Loras"/> plus the prompt's A1111
/// <c>&lt;lora:name:weight&gt;</c> tags when a LoRA folder is set. A component whose set changed gets a new session over
/// the newly merged weights (its old session and merged weights are released); the others are kept. The components are
/// the pipeline's <see cref="Slot"/>s: the UNet families' text encoders and UNet, SD3/FLUX.1's encoders and transformer.
/// </summary>
/// <param name="slots">The components that take LoRAs, in the order they are switched.</param>
/// <param name="adapters">The pipeline's LoRA state.</param>
/// <param name="settings">The pipeline's settings (LoRAs, LoRA folder).</param>
/// <param name="foreignTarget">LoRAs with modules for this component belong to another model family: a tag naming one is
/// refused rather than applied to nothing.</param>
internal sealed class LoraSessionSwitcher(IReadOnlyList<LoraSessionSwitcher.Slot> slots, PipelineAdapters adapters, PipelineSettings settings,
    LoraTarget foreignTarget)
{
    /// <summary>A component whose session follows the LoRA set.</summary>
    /// <param name="Component">Its LoRA state.</param>
    /// <param name="Source">Its model's current source.</param>
    /// <param name="Settings">Its session settings before LoRA overrides.</param>
    /// <param name="Replace">Creates its model again with the given settings, puts it in place and disposes the old one.</param>
    internal sealed record Slot(PipelineAdapters.ComponentLoras Component, Func<ModelSource> Source, SessionSettings Settings, Action<SessionSettings> Replace);

    /// <summary>Strips the prompt's LoRA tags (with a LoRA folder) and switches sessions as needed; returns the prompt without tags.</summary>
    /// <exception cref="InvalidOptionException">A tag names a LoRA for another model family.</exception>
    public string Apply(string prompt)
    {
        if (settings.LoraDirectory is null && settings.Loras.Count == 0)
            return prompt;
        var files = new List<LoraFile>(settings.Loras);
        if (settings.LoraDirectory is string directory)
        {
            prompt = LoraPromptTags.Extract(prompt, out IReadOnlyList<(string Name, float Weight)> tags);
            foreach ((string name, float weight) in tags)
                files.Add(new LoraFile(LoraPromptTags.ResolvePath(directory, name), weight));
            if (adapters.Select(files.GetRange(settings.Loras.Count, tags.Count), foreignTarget) is [var foreign, ..])
                throw new InvalidOptionException(nameof(GenerationOptions.Prompt),
                    $"the tag for {foreign.Path} names a LoRA with {foreignTarget} modules, which this model does not have (a LoRA for another model family).");
        }
        foreach (Slot slot in slots)
        {
            if (Replace(slot.Component, slot.Source(), files) is not { } sessionSettings)
                continue;
            slot.Replace(sessionSettings(slot.Settings));
            slot.Component.CommitPending();
        }
        return prompt;
    }

    /// <summary>Creates <paramref name="old"/>'s replacement with <paramref name="load"/>, then disposes <paramref name="old"/>
    /// (a failed load leaves it in place).</summary>
    public static T Replaced<T>(T old, Func<T> load) where T : OnnxModel
    {
        T replacement = load();
        old.Dispose();
        return replacement;
    }

    /// <summary>Merges <paramref name="loras"/> for <paramref name="component"/> at load time and commits them.</summary>
    public static void SetInitial(PipelineAdapters adapters, PipelineAdapters.ComponentLoras component, ModelSource model, IReadOnlyList<LoraFile> loras)
    {
        List<LoraFile> selected = adapters.Select(loras, component.Target);
        (WeightOverrides? overrides, LoraApplicationReport? report) = adapters.Merge(model, component.Target, selected);
        component.SetPending(selected, overrides, report);
        component.CommitPending();
    }

    /// <summary>
    /// When <paramref name="files"/> changes <paramref name="component"/>'s LoRA set: merges the new set (kept pending
    /// until the new session exists) and returns how to make its session settings; else null.
    /// </summary>
    private Func<SessionSettings, SessionSettings>? Replace(PipelineAdapters.ComponentLoras component, ModelSource model, List<LoraFile> files)
    {
        List<LoraFile> selected = adapters.Select(files, component.Target);
        if (component.Matches(selected))
            return null;
        (WeightOverrides? overrides, LoraApplicationReport? report) = adapters.Merge(model, component.Target, selected);
        component.SetPending(selected, overrides, report);
        return s => adapters.SettingsFor(component, s, pending: true);
    }
}
