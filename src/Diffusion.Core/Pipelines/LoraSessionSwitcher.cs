using Diffusion.Core.Adapters;
using Diffusion.Core.Execution;
using Diffusion.Core.Models;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Weights;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// Makes the text encoders' and UNet's sessions match a call's LoRA set: <see cref="PipelineSettings.Loras"/> plus the
/// prompt's A1111 <c>&lt;lora:name:weight&gt;</c> tags when a LoRA folder is set. A component whose set changed gets a
/// new session over the newly merged weights (its old session and merged weights are released); the others are kept.
/// </summary>
internal sealed class LoraSessionSwitcher(PipelineModels models, PipelineAdapters adapters, PipelineSettings settings)
{
    /// <summary>Strips the prompt's LoRA tags (with a LoRA folder) and switches sessions as needed; returns the prompt without tags.</summary>
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
        }
        models.TextEncoder = Switch(adapters.TextEncoder, models.TextEncoder, files);
        if (models.TextEncoder2 is { } second)
            models.TextEncoder2 = Switch(adapters.TextEncoder2, second, files);
        Func<SessionSettings, SessionSettings>? unetSettings = Replace(adapters.UNet, models.UNet.Source, files);
        if (unetSettings is not null)
        {
            UNet old = models.UNet;
            models.UNet = UNet.Load(old.Source, unetSettings(settings.UNetSettings));
            old.Dispose();
            adapters.UNet.CommitPending();
        }
        return prompt;
    }

    /// <summary>A text encoder with <paramref name="component"/>'s LoRA set for <paramref name="files"/>: a new session when the set changed (the old one disposed), else <paramref name="current"/>.</summary>
    private TextEncoder Switch(PipelineAdapters.ComponentLoras component, TextEncoder current, List<LoraFile> files)
    {
        if (Replace(component, current.Source, files) is not { } sessionSettings)
            return current;
        TextEncoder replacement = TextEncoder.Load(current.Source, sessionSettings(settings.TextEncoderSettings));
        current.Dispose();
        component.CommitPending();
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
