using Diffusion.Core.Families;
using Diffusion.Core.Graphs;
using Diffusion.Core.Graphs.SingleFile;
using Diffusion.Core.Models;
using Diffusion.Core.TextEncoding;
using Diffusion.Core.Tokenization;
using Microsoft.Extensions.Logging;

namespace Diffusion.Core.Pipelines;

/// <summary>
/// Where each model of an SD3/FLUX.1 pipeline comes from: a diffusers folder's components (ONNX exports or safetensors),
/// or a single file's transformer — and, for an all-in-one file, its text encoders and VAE too — with the rest and every
/// config and tokenizer from the config folder. Resolving builds graphs and reads headers; it creates no session.
/// </summary>
/// <param name="Clips">CLIP-L (and SD3's CLIP-G) in conditioning order, each with its tokenizer.</param>
/// <param name="T5">The T5 encoder and tokenizer; null for an SD3 folder without <c>text_encoder_3/</c>.</param>
/// <param name="T5Component">The T5 encoder's folder name (<c>text_encoder_2</c> for FLUX.1, <c>text_encoder_3</c> for SD3).</param>
/// <param name="Transformer">The transformer.</param>
/// <param name="VaeDecoder">The VAE decoder.</param>
/// <param name="VaeEncoder">The VAE encoder, null when there is none (text-to-image still runs).</param>
internal sealed record FlowMatchingSources(
    IReadOnlyList<(ClipTokenizer Tokenizer, ModelSource Encoder)> Clips,
    (T5Tokenizer Tokenizer, ModelSource Encoder)? T5,
    string T5Component,
    ModelSource Transformer,
    ModelSource VaeDecoder,
    ModelSource? VaeEncoder)
{
    /// <exception cref="ModelLoadException">A required component, config or tokenizer is missing or invalid (named).</exception>
    /// <exception cref="WeightFileException">A weight file is malformed, or a tensor is missing or misshaped (named).</exception>
    public static FlowMatchingSources Resolve(string directory, string? singleFile, ModelFamily family, ILogger? logger)
    {
        bool flux = family == ModelFamily.Flux;
        FlowCheckpointComponents? inFile = singleFile is null ? null : FlowCheckpointComponents.Read(singleFile);
        if (inFile is not null && logger is not null)
        {
            string report = $"holds {inFile.Describe()}; the rest from {directory}";
            PipelineLog.SingleFileDetected(logger, singleFile!, report);
        }

        var clips = new List<(ClipTokenizer, ModelSource)>();
        string[] clipComponents = flux ? ["text_encoder"] : ["text_encoder", "text_encoder_2"];
        for (int k = 0; k < clipComponents.Length; k++)
        {
            string component = clipComponents[k];
            (string tokenizerDirectory, ModelSource encoder) = TextEncoder(directory, component, family, inFile, k == 0 ? FlowCheckpointComponents.ClipL : FlowCheckpointComponents.ClipG, required: true)!.Value;
            var tokenizer = ClipTokenizer.FromDirectory(tokenizerDirectory);
            TokenEmbeddingTable.RequireFits(tokenizer, tokenizerDirectory, encoder);
            clips.Add((tokenizer, encoder));
        }
        // SD3 runs without T5 when the folder leaves it out (diffusers' text_encoder_3=None); FLUX.1 needs it.
        string t5Component = flux ? "text_encoder_2" : "text_encoder_3";
        (string TokenizerDirectory, ModelSource Encoder)? t5 = TextEncoder(directory, t5Component, family, inFile, FlowCheckpointComponents.T5, required: flux);
        ModelSource transformer = singleFile is null ? TransformerSource(directory, family) : SingleFileTransformer.Build(singleFile, directory, family).ToSource();
        (ModelSource decoder, ModelSource? encoderSource) = Vae(directory, inFile);
        return new FlowMatchingSources(clips, t5 is { } t ? (T5Tokenizer.FromDirectory(t.TokenizerDirectory), t.Encoder) : null, t5Component,
            transformer, decoder, encoderSource);
    }

    /// <summary>The components in run order with their sources, for the memory plan.</summary>
    public List<(string Name, ModelSource Source)> Planned()
    {
        List<(string, ModelSource)> planned = [.. Clips.Select((clip, k) => (k == 0 ? "text_encoder" : "text_encoder_2", clip.Encoder))];
        if (T5 is { } t5)
            planned.Add((T5Component, t5.Encoder));
        planned.Add(("transformer", Transformer));
        planned.Add(("vae_decoder", VaeDecoder));
        return planned;
    }

    /// <summary>A text encoder and its tokenizer folder: from the single file when it holds one under <paramref name="prefix"/>
    /// (config from the folder), else the folder's.</summary>
    private static (string TokenizerDirectory, ModelSource Encoder)? TextEncoder(string directory, string component, ModelFamily family,
        FlowCheckpointComponents? inFile, string prefix, bool required)
    {
        string tokenizer = Path.Combine(directory, component.Replace("text_encoder", "tokenizer", StringComparison.Ordinal));
        ModelSource? source = null;
        if (inFile is not null && inFile.HasTextEncoder(prefix))
        {
            source = inFile.BuildTextEncoder(prefix, Path.Combine(directory, component, "config.json"), component).ToSource();
        }
        else if (StableDiffusionModelFolder.ComponentPath(directory, component, diffusersWeights: false) is string path)
        {
            source = FolderModelSources.TextEncoder(path);
        }
        if (source is null)
        {
            return required
                ? throw new ModelLoadException(Path.Combine(directory, component), $"required text encoder is missing (config.json with model.safetensors, or model.onnx); a {family.Name} folder has it.")
                : null;
        }
        if (!Directory.Exists(tokenizer))
            throw new ModelLoadException(tokenizer, $"required tokenizer folder of {component} is missing.");
        return (tokenizer, source);
    }

    private static ModelSource TransformerSource(string directory, ModelFamily family)
    {
        string folder = Path.Combine(directory, "transformer");
        string onnx = Path.Combine(folder, "model.onnx");
        if (File.Exists(onnx))
            return ModelSource.FromFile(onnx);
        if (File.Exists(Path.Combine(folder, "config.json")))
            return CheckpointTransformer.Build(folder).ToSource();
        throw new ModelLoadException(folder, $"required transformer is missing (config.json with diffusion_pytorch_model.safetensors, or model.onnx); a {family.Name} folder has it.");
    }

    /// <summary>The VAE decoder and (when there is one) encoder: the single file's with the folder's <c>vae/config.json</c>, else the folder's.</summary>
    private static (ModelSource Decoder, ModelSource? Encoder) Vae(string directory, FlowCheckpointComponents? inFile)
    {
        if (inFile?.VaePrefix is not null)
        {
            (BuiltModel decoder, BuiltModel encoder) = inFile.BuildVae(Path.Combine(directory, "vae", "config.json"));
            return (decoder.ToSource(), encoder.ToSource());
        }
        string vaePath = StableDiffusionModelFolder.ComponentPath(directory, "vae_decoder", diffusersWeights: true)
            ?? StableDiffusionModelFolder.ComponentPath(directory, "vae", diffusersWeights: true)
            ?? throw new ModelLoadException(Path.Combine(directory, "vae"), "required VAE is missing (vae/config.json with diffusion_pytorch_model.safetensors, or vae_decoder/model.onnx).");
        string? encoderPath = StableDiffusionModelFolder.ComponentPath(directory, "vae_encoder", diffusersWeights: true)
            ?? StableDiffusionModelFolder.ComponentPath(directory, "vae", diffusersWeights: true);
        return (FolderModelSources.VaeDecoder(vaePath), encoderPath is null ? null : FolderModelSources.VaeEncoder(encoderPath));
    }
}
