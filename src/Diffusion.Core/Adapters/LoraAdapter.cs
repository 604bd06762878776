using Diffusion.Core.Weights;

namespace Diffusion.Core.Adapters;

/// <summary>
/// A LoRA (low-rank adaptation) read from a <c>.safetensors</c> file: for each adapted layer a down factor
/// A [rank, in(, kh, kw)], an up factor B [out, rank(, 1, 1)] and an optional alpha, merged into a model by
/// <see cref="LoraMerger"/> as <c>W' = W + multiplier · alpha / rank · B·A</c>.
/// </summary>
/// <remarks>
/// Key styles understood (the ones kohya-ss sd-scripts, A1111 and diffusers write):
/// kohya <c>lora_unet_down_blocks_0_..._to_q.lora_down.weight</c> / <c>.lora_up.weight</c> / <c>.alpha</c>
/// (<c>lora_te_</c>, <c>lora_te1_</c>, <c>lora_te2_</c> for text encoders; LoCon convolutions included);
/// diffusers/PEFT <c>unet.down_blocks.0....to_q.lora_A.weight</c> / <c>.lora_B.weight</c> (also
/// <c>.lora.down.weight</c>/<c>.lora.up.weight</c> and the older <c>...attn1.processor.to_q_lora.down.weight</c>),
/// with <c>text_encoder.</c> and <c>text_encoder_2.</c> prefixes; FLUX.1 LoRAs in kohya's
/// (<c>lora_unet_double_blocks_0_img_attn_qkv</c>, <c>lora_te1_…</c>) and ComfyUI's (<c>diffusion_model.double_blocks.0.img_attn.qkv</c>,
/// <c>text_encoders.clip_l.transformer.…</c>) keys, which name Black Forest Labs' fused layers (see <see cref="CheckpointLoraModules"/>).
/// Only the header is read on <see cref="Load"/>;
/// factors are read when merging. Other LyCORIS kinds (LoHa <c>hada_</c>, LoKr <c>lokr_</c>, DoRA
/// <c>dora_scale</c>) are not merged: their keys are reported as unmatched.
/// </remarks>
public sealed class LoraAdapter
{
    private static readonly (string Prefix, LoraTarget Target)[] s_kohyaPrefixes =
        [("lora_unet_", LoraTarget.UNet), ("lora_te1_", LoraTarget.TextEncoder), ("lora_te2_", LoraTarget.TextEncoder2), ("lora_te_", LoraTarget.TextEncoder)];

    // ComfyUI's FLUX.1 LoRAs: Black Forest Labs' module names under diffusion_model., CLIP-L under its text_encoders. path.
    private static readonly (string Prefix, LoraTarget Target, bool CheckpointNames)[] s_dottedPrefixes =
        [("unet.", LoraTarget.UNet, false), ("transformer.", LoraTarget.Transformer, false), ("text_encoder.", LoraTarget.TextEncoder, false),
         ("text_encoder_2.", LoraTarget.TextEncoder2, false), ("diffusion_model.", LoraTarget.Transformer, true),
         ("text_encoders.clip_l.transformer.", LoraTarget.TextEncoder, false)];

    private static readonly (string Suffix, Role Role)[] s_dottedSuffixes =
        [(".lora_A.weight", Role.Down), (".lora_B.weight", Role.Up), (".lora.down.weight", Role.Down), (".lora.up.weight", Role.Up),
         (".lora_down.weight", Role.Down), (".lora_up.weight", Role.Up), (".lora_linear_layer.down.weight", Role.Down),
         (".lora_linear_layer.up.weight", Role.Up), ("_lora.down.weight", Role.Down), ("_lora.up.weight", Role.Up), (".alpha", Role.Alpha)];

    private readonly List<LoraModule> _modules;
    private readonly List<(LoraTarget? Target, string Key)> _unsupportedKeys;

    private LoraAdapter(string filePath, List<LoraModule> modules, List<(LoraTarget?, string)> unsupportedKeys, IReadOnlyDictionary<string, string> metadata)
    {
        FilePath = filePath;
        Name = Path.GetFileNameWithoutExtension(filePath);
        _modules = modules;
        _unsupportedKeys = unsupportedKeys;
        Metadata = metadata;
    }

    /// <summary>The <c>.safetensors</c> file.</summary>
    public string FilePath { get; }

    /// <summary>The file name without extension (the name used in <c>&lt;lora:name:weight&gt;</c> prompt tags).</summary>
    public string Name { get; }

    /// <summary>The file's <c>__metadata__</c> (kohya writes its training settings there).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    internal IReadOnlyList<LoraModule> Modules => _modules;

    internal IReadOnlyList<(LoraTarget? Target, string Key)> UnsupportedKeys => _unsupportedKeys;

    /// <summary>Number of LoRA modules (down/up pairs) this file has for <paramref name="target"/>.</summary>
    public int CountModules(LoraTarget target)
    {
        int count = 0;
        foreach (LoraModule module in _modules)
        {
            if (module.Target == target)
                count++;
        }
        return count;
    }

    /// <summary>Reads and checks the header of the LoRA file at <paramref name="path"/>.</summary>
    /// <exception cref="WeightFileException">The file is not a valid safetensors file (see <see cref="SafeTensorsFile.Open"/>),
    /// has no LoRA key at all, or a module lacks a factor, has factors of mismatched rank, or a non-scalar alpha;
    /// the message names the file and key.</exception>
    public static LoraAdapter Load(string path)
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(path);
        var parts = new Dictionary<(LoraTarget, string, bool), ModuleKeys>();
        var order = new List<(LoraTarget, string, bool)>();
        var checkpointNamed = new HashSet<(LoraTarget, string, bool)>();
        var unsupported = new List<(LoraTarget?, string)>();
        foreach (SafeTensorInfo tensor in file.Tensors)
        {
            if (!TryParseKey(tensor.Name, out LoraTarget target, out string module, out bool dotted, out Role role, out string displayKey,
                out bool checkpointNames))
            {
                unsupported.Add((TargetOfKey(tensor.Name), tensor.Name));
                continue;
            }
            var id = (target, module, dotted);
            if (checkpointNames)
                checkpointNamed.Add(id);
            if (!parts.TryGetValue(id, out ModuleKeys? keys))
            {
                keys = new ModuleKeys(displayKey);
                parts.Add(id, keys);
                order.Add(id);
            }
            switch (role)
            {
                case Role.Down: keys.Down = tensor; break;
                case Role.Up: keys.Up = tensor; break;
                default: keys.Alpha = tensor; break;
            }
        }

        var modules = new List<LoraModule>(order.Count);
        foreach (var id in order)
            modules.Add(Validate(path, id.Item1, id.Item2, id.Item3, checkpointNamed.Contains(id), parts[id]));
        if (modules.Count == 0)
        {
            string first = unsupported.Count == 0 ? "the file is empty" : "first keys: " + FirstKeys(unsupported, 3);
            throw new WeightFileException(path, null,
                $"no LoRA keys recognised (expected kohya 'lora_unet_….lora_down.weight' or diffusers 'unet.….lora_A.weight' / 'transformer.….lora_A.weight' style); {first}.");
        }
        return new LoraAdapter(path, modules, unsupported, file.Metadata);
    }

    private static LoraModule Validate(string path, LoraTarget target, string module, bool dotted, bool checkpointNames, ModuleKeys keys)
    {
        if (keys.Down is null || keys.Up is null)
        {
            string missing = keys.Down is null ? "down (lora_down / lora_A)" : "up (lora_up / lora_B)";
            string present = (keys.Down ?? keys.Up ?? keys.Alpha)!.Name;
            throw new WeightFileException(path, present, $"module '{keys.DisplayKey}' has no {missing} factor.");
        }
        SafeTensorInfo down = keys.Down, up = keys.Up;
        if (down.Shape.Count is not (2 or 3 or 4) || down.Shape[0] <= 0)
            throw new WeightFileException(path, down.Name, $"down factor must be [rank, in] or [rank, in, kh, kw], got [{string.Join(", ", down.Shape)}].");
        if (up.Shape.Count is not (2 or 3 or 4))
            throw new WeightFileException(path, up.Name, $"up factor must be [out, rank] or [out, rank, 1, 1], got [{string.Join(", ", up.Shape)}].");
        for (int i = 2; i < up.Shape.Count; i++)
        {
            if (up.Shape[i] != 1)
                throw new WeightFileException(path, up.Name, $"up factor [{string.Join(", ", up.Shape)}] has a spatial kernel; only [out, rank, 1, 1] is supported.");
        }
        long rank = down.Shape[0];
        if (up.Shape[1] != rank)
            throw new WeightFileException(path, up.Name, $"rank mismatch: the up factor has rank {up.Shape[1]}, the down factor '{down.Name}' rank {rank}.");
        if (keys.Alpha is not null && keys.Alpha.ElementCount != 1)
            throw new WeightFileException(path, keys.Alpha.Name, $"alpha must be a scalar, got shape [{string.Join(", ", keys.Alpha.Shape)}].");
        return new LoraModule(target, module, dotted, keys.DisplayKey, down.Name, up.Name, keys.Alpha?.Name,
            checked((int)rank), up.Shape[0], down.ElementCount / rank, checkpointNames);
    }

    /// <summary>Splits a key into component, module name and role; false for keys of no known LoRA style.</summary>
    /// <param name="key">A tensor name of the file.</param>
    /// <param name="target">The component it belongs to.</param>
    /// <param name="module">The module path without the component prefix.</param>
    /// <param name="dotted">Dotted (diffusers, ComfyUI) rather than kohya's underscored names.</param>
    /// <param name="role">Down factor, up factor or alpha.</param>
    /// <param name="displayKey">The module as the file names it.</param>
    /// <param name="checkpointNames">The module is named as in the model's original checkpoint layout (Black Forest Labs'
    /// FLUX.1 names: kohya's <c>lora_unet_double_blocks_0_img_attn_qkv</c>, ComfyUI's <c>diffusion_model.double_blocks.0.img_attn.qkv</c>),
    /// not as diffusers names the layer.</param>
    internal static bool TryParseKey(string key, out LoraTarget target, out string module, out bool dotted, out Role role, out string displayKey,
        out bool checkpointNames)
    {
        checkpointNames = false;
        foreach ((string prefix, LoraTarget t) in s_kohyaPrefixes)
        {
            if (!key.StartsWith(prefix, StringComparison.Ordinal))
                continue;
            int dot = key.IndexOf('.', prefix.Length);
            string suffix = dot < 0 ? string.Empty : key[(dot + 1)..];
            Role? r = suffix switch { "lora_down.weight" => Role.Down, "lora_up.weight" => Role.Up, "alpha" => Role.Alpha, _ => null };
            if (r is null)
                break;
            string name = key[prefix.Length..dot];
            // kohya's FLUX.1 trainer writes the transformer under lora_unet_ with Black Forest Labs' block names
            checkpointNames = t == LoraTarget.UNet && CheckpointLoraModules.IsCheckpointName(name, dotted: false);
            (target, module, dotted, role, displayKey) = (checkpointNames ? LoraTarget.Transformer : t, name, false, r.Value, key[..dot]);
            return true;
        }
        foreach ((string prefix, LoraTarget t, bool checkpoint) in s_dottedPrefixes)
        {
            if (!key.StartsWith(prefix, StringComparison.Ordinal))
                continue;
            foreach ((string suffix, Role r) in s_dottedSuffixes)
            {
                if (!key.EndsWith(suffix, StringComparison.Ordinal) || key.Length <= prefix.Length + suffix.Length)
                    continue;
                string name = key[prefix.Length..^suffix.Length];
                if (checkpoint && !CheckpointLoraModules.IsCheckpointName(name, dotted: true))
                    break;
                if (suffix[0] == '_')
                    name = MapProcessorName(name, t); // "...attn1.processor.to_q" (from "to_q_lora.down.weight")
                checkpointNames = checkpoint;
                (target, module, dotted, role, displayKey) = (t, name, true, r, prefix + name);
                return true;
            }
            break;
        }
        (target, module, dotted, role, displayKey) = (default, string.Empty, false, default, string.Empty);
        return false;
    }

    /// <summary>
    /// Old diffusers attention-processor LoRAs name the projection after the processor
    /// (<c>attn1.processor.to_q_lora</c>, <c>self_attn.to_out_lora</c>); map to the layer the weight belongs to:
    /// <c>to_q</c>… and <c>to_out.0</c> in the UNet, <c>q_proj</c>… and <c>out_proj</c> in CLIP.
    /// </summary>
    private static string MapProcessorName(string name, LoraTarget target)
    {
        int lastDot = name.LastIndexOf('.');
        string parent = lastDot < 0 ? string.Empty : name[..lastDot];
        string projection = name[(lastDot + 1)..];
        if (parent.EndsWith(".processor", StringComparison.Ordinal))
            parent = parent[..^".processor".Length];
        string mapped = (target, projection) switch
        {
            (LoraTarget.UNet, "to_out") => "to_out.0",
            (LoraTarget.UNet, _) => projection,
            (_, "to_q") => "q_proj",
            (_, "to_k") => "k_proj",
            (_, "to_v") => "v_proj",
            (_, "to_out") => "out_proj",
            _ => projection,
        };
        return parent.Length == 0 ? mapped : parent + "." + mapped;
    }

    private static LoraTarget? TargetOfKey(string key)
    {
        foreach ((string prefix, LoraTarget t) in s_kohyaPrefixes)
        {
            if (key.StartsWith(prefix, StringComparison.Ordinal))
                return t;
        }
        foreach ((string prefix, LoraTarget t, _) in s_dottedPrefixes)
        {
            if (key.StartsWith(prefix, StringComparison.Ordinal))
                return t;
        }
        return null;
    }

    private static string FirstKeys(List<(LoraTarget?, string Key)> keys, int count)
    {
        var names = new List<string>(count);
        for (int i = 0; i < keys.Count && i < count; i++)
            names.Add("'" + keys[i].Key + "'");
        return string.Join(", ", names);
    }

    /// <summary>What a key holds.</summary>
    internal enum Role
    {
        Down,
        Up,
        Alpha,
    }

    private sealed class ModuleKeys(string displayKey)
    {
        public string DisplayKey { get; } = displayKey;

        public SafeTensorInfo? Down { get; set; }

        public SafeTensorInfo? Up { get; set; }

        public SafeTensorInfo? Alpha { get; set; }
    }
}
