namespace Diffusion.Core.Schedulers;

/// <summary>
/// Creates schedulers by name: diffusers class names (<c>EulerDiscreteScheduler</c>,
/// <c>DPMSolverMultistepScheduler</c>, …), AUTOMATIC1111 sampler names (<c>Euler a</c>, <c>DPM++ 2M Karras</c>, …)
/// and ComfyUI sampler / sampler+scheduler names (<c>euler_ancestral</c>, <c>dpmpp_2m+karras</c>, …), matched
/// case-insensitively. A name selects a scheduler class and a few configuration overrides (e.g.
/// <c>use_karras_sigmas = true</c>) applied on top of the model's own <c>scheduler_config.json</c>.
/// </summary>
/// <remarks>
/// <para>
/// Switching class follows diffusers' <c>NewScheduler.from_config(pipe.scheduler.config)</c>: keys the model's
/// JSON set (<see cref="SchedulerConfig.SpecifiedFields"/>) carry over, keys it left out take the new class's own
/// diffusers defaults (for instance <c>timestep_spacing</c> becomes <c>linspace</c> for DPM-Solver on a Stable
/// Diffusion 1.5 config that never set it), then the name's overrides apply. A config built in code
/// (<see cref="SchedulerConfig.SpecifiedFields"/> null) carries over as is.
/// </para>
/// <para>
/// A1111 names follow diffusers' documented mapping (<c>DPM++ 2M Karras</c> = DPMSolverMultistepScheduler with
/// Karras sigmas, and so on). <c>DPM++ 2S a</c> has no diffusers equivalent; diffusers' documentation points to
/// DPMSolverSinglestepScheduler as the closest, and that is what it creates. ComfyUI names map sampler to class
/// (<c>uni_pc</c> is the bh1 variant, <c>uni_pc_bh2</c> bh2, as in ComfyUI) and scheduler to the closest diffusers
/// schedule (a sampler alone keeps the model's own schedule): <c>normal</c> = linspace spacing, <c>karras</c>/<c>exponential</c>/<c>beta</c> = those sigmas,
/// <c>sgm_uniform</c> and <c>simple</c> = trailing spacing, <c>ddim_uniform</c> = leading spacing with offset 1.
/// ComfyUI's SDE samplers draw Brownian-tree noise, which no diffusers scheduler here reproduces.
/// DEIS is offered under diffusers' class name only (<c>DEISMultistepScheduler</c>): ComfyUI's <c>deis</c> sampler is a
/// different implementation. Not offered: DPM++ SDE (DPMSolverSDEScheduler needs torchsde's Brownian tree), DPM
/// adaptive/fast, DDIM inverse.
/// </para>
/// </remarks>
public static class SchedulerCatalog
{
    // Declared first: the tables below are built from it during static initialisation (textual order).
    private static readonly string[] s_classNames =
    [
        "DDIMScheduler", "DDPMScheduler", "PNDMScheduler", "LMSDiscreteScheduler", "EulerDiscreteScheduler",
        "EulerAncestralDiscreteScheduler", "HeunDiscreteScheduler", "KDPM2DiscreteScheduler",
        "KDPM2AncestralDiscreteScheduler", "DPMSolverMultistepScheduler", "DPMSolverSinglestepScheduler",
        "UniPCMultistepScheduler", "DEISMultistepScheduler", "LCMScheduler", "TCDScheduler",
        "FlowMatchEulerDiscreteScheduler", "FlowMatchHeunDiscreteScheduler",
    ];

    private static readonly Dictionary<string, Entry> s_entries = BuildEntries();
    private static readonly string[] s_names = BuildNames();
    private static readonly Dictionary<string, Entry> s_flowEntries = FlowDefinitions().ToDictionary(d => Normalize(d.Name), d => d.Entry, StringComparer.Ordinal);
    private static readonly string[] s_flowNames = [.. FlowDefinitions().Select(d => d.Name)];

    /// <summary>The names <see cref="Create"/> accepts for a flow-matching model (SD3/3.5, FLUX.1), in a stable order.</summary>
    public static IReadOnlyList<string> FlowMatchingNames => s_flowNames;

    /// <summary>Every name <see cref="Create"/> accepts, in a stable order (diffusers classes, A1111, ComfyUI).</summary>
    public static IReadOnlyList<string> Names => s_names;

    /// <summary>
    /// Whether <see cref="Create"/> accepts <paramref name="name"/> for a model of this kind (flow-matching or diffusion),
    /// without a model's configuration at hand: what a server checks before queuing a request.
    /// </summary>
    public static bool Accepts(string name, bool flowMatchingModel)
    {
        ArgumentNullException.ThrowIfNull(name);
        string key = Normalize(name);
        if (flowMatchingModel && s_flowEntries.ContainsKey(key))
            return true;
        return s_entries.TryGetValue(key, out Entry? entry) && entry.ClassName.StartsWith("FlowMatch", StringComparison.Ordinal) == flowMatchingModel;
    }

    /// <summary>
    /// Creates the scheduler <paramref name="name"/> stands for, configured from <paramref name="baseConfig"/>
    /// (normally the model folder's <c>scheduler_config.json</c>) with the class's defaults for keys the file left
    /// out and the name's overrides on top.
    /// </summary>
    /// <param name="name">A diffusers class name, A1111 sampler name or ComfyUI sampler[+scheduler] name; case-insensitive.</param>
    /// <param name="baseConfig">The model's scheduler configuration.</param>
    /// <exception cref="InvalidOptionException">The name is unknown (the message lists the known names), or the resulting configuration is not supported.</exception>
    public static IScheduler Create(string name, SchedulerConfig baseConfig)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(baseConfig);
        Entry entry = Resolve(name, baseConfig);

        // Complete the file's config with the target class's defaults first (diffusers' from_config), then mark it
        // fully specified so the overrides survive the constructor's own default filling.
        SchedulerConfig completed = baseConfig.WithDefaultsFrom(DefaultsOf(entry.ClassName)) with { SpecifiedFields = null };
        return Construct(entry.Overrides(completed) with { ClassName = entry.ClassName });
    }

    /// <summary>
    /// Creates the scheduler class named by <paramref name="config"/>'s <c>_class_name</c>, as diffusers'
    /// <c>from_pretrained</c> does: keys the JSON left out take that class's diffusers defaults.
    /// </summary>
    /// <exception cref="InvalidOptionException"><c>_class_name</c> is missing or not a scheduler this library implements.</exception>
    public static IScheduler CreateFromConfig(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        string? className = config.ClassName is null ? null : CanonicalClassName(config.ClassName);
        if (className is null)
        {
            throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": _class_name",
                $"'{config.ClassName ?? "(missing)"}' is not a supported scheduler class. Supported: {string.Join(", ", s_classNames)}.");
        }

        return Construct(config with { ClassName = className }); // each constructor fills the file's missing keys
    }

    /// <summary>True for the configs of rectified-flow models (SD3/3.5, FLUX.1): their <c>_class_name</c> is a FlowMatch scheduler.</summary>
    public static bool IsFlowMatching(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.ClassName is { } className && className.StartsWith("FlowMatch", StringComparison.OrdinalIgnoreCase);
    }

    // A flow-matching model reads A1111/ComfyUI names through its own table; the two kinds of schedule never mix
    // (a diffusion sampler on a velocity-predicting model, or the reverse, denoises into garbage without an error).
    private static Entry Resolve(string name, SchedulerConfig baseConfig)
    {
        string key = Normalize(name);
        bool flowModel = IsFlowMatching(baseConfig);
        if (flowModel && s_flowEntries.TryGetValue(key, out Entry? flowEntry))
            return flowEntry;
        if (!s_entries.TryGetValue(key, out Entry? entry))
        {
            throw new InvalidOptionException("Scheduler",
                $"'{name}' is not a known scheduler name. Known names: {string.Join(", ", s_names)}.");
        }
        bool flowScheduler = entry.ClassName.StartsWith("FlowMatch", StringComparison.Ordinal);
        if (flowModel && !flowScheduler)
        {
            throw new InvalidOptionException("Scheduler",
                $"'{name}' is a diffusion sampler, but this model is a flow-matching one ({baseConfig.ClassName}). Names for it: {string.Join(", ", s_flowNames)}.");
        }
        if (!flowModel && flowScheduler)
        {
            throw new InvalidOptionException("Scheduler",
                $"'{name}' is a flow-matching scheduler (SD3, FLUX.1), but this model's scheduler config is {baseConfig.ClassName ?? "a diffusion one"}.");
        }
        return entry;
    }

    private static string? CanonicalClassName(string className)
    {
        foreach (string known in s_classNames)
        {
            if (string.Equals(known, className, StringComparison.OrdinalIgnoreCase))
            {
                return known;
            }
        }

        return null;
    }

    /// <summary>The scheduler of diffusers class <see cref="SchedulerConfig.ClassName"/>, built from <paramref name="config"/> as given.</summary>
    internal static IScheduler Construct(SchedulerConfig config) => config.ClassName switch
    {
        "DDIMScheduler" => new DdimScheduler(config),
        "DDPMScheduler" => new DdpmScheduler(config),
        "PNDMScheduler" => new PndmScheduler(config),
        "LMSDiscreteScheduler" => new LmsDiscreteScheduler(config),
        "EulerDiscreteScheduler" => new EulerDiscreteScheduler(config),
        "EulerAncestralDiscreteScheduler" => new EulerAncestralDiscreteScheduler(config),
        "HeunDiscreteScheduler" => new HeunDiscreteScheduler(config),
        "KDPM2DiscreteScheduler" => new KDpm2DiscreteScheduler(config),
        "KDPM2AncestralDiscreteScheduler" => new KDpm2AncestralDiscreteScheduler(config),
        "DPMSolverMultistepScheduler" => new DpmSolverMultistepScheduler(config),
        "DPMSolverSinglestepScheduler" => new DpmSolverSinglestepScheduler(config),
        "UniPCMultistepScheduler" => new UniPcMultistepScheduler(config),
        "DEISMultistepScheduler" => new DeisMultistepScheduler(config),
        "LCMScheduler" => new LcmScheduler(config),
        "TCDScheduler" => new TcdScheduler(config),
        "FlowMatchEulerDiscreteScheduler" => new FlowMatchEulerDiscreteScheduler(config),
        "FlowMatchHeunDiscreteScheduler" => new FlowMatchHeunDiscreteScheduler(config),
        _ => throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": _class_name", $"'{config.ClassName}' is not a supported scheduler class."),
    };

    /// <summary>The diffusers constructor defaults of each class (what its file's missing keys become).</summary>
    private static SchedulerConfig DefaultsOf(string className) => className switch
    {
        "DDIMScheduler" => DdimScheduler.DiffusersDefaults,
        "DDPMScheduler" => DdpmScheduler.DiffusersDefaults,
        "PNDMScheduler" => PndmScheduler.DiffusersDefaults,
        "LMSDiscreteScheduler" => LmsDiscreteScheduler.DiffusersDefaults,
        "EulerDiscreteScheduler" => EulerDiscreteScheduler.DiffusersDefaults,
        "EulerAncestralDiscreteScheduler" => EulerAncestralDiscreteScheduler.DiffusersDefaults,
        "HeunDiscreteScheduler" => HeunDiscreteScheduler.DiffusersDefaults,
        "KDPM2DiscreteScheduler" => KDpm2DiscreteScheduler.DiffusersDefaults,
        "KDPM2AncestralDiscreteScheduler" => KDpm2AncestralDiscreteScheduler.DiffusersDefaults,
        "DPMSolverMultistepScheduler" => DpmSolverMultistepScheduler.DiffusersDefaults,
        "DPMSolverSinglestepScheduler" => DpmSolverSinglestepScheduler.DiffusersDefaults,
        "UniPCMultistepScheduler" => UniPcMultistepScheduler.DiffusersDefaults,
        "DEISMultistepScheduler" => DeisMultistepScheduler.DiffusersDefaults,
        "LCMScheduler" => LcmScheduler.DiffusersDefaults,
        "TCDScheduler" => TcdScheduler.DiffusersDefaults,
        "FlowMatchEulerDiscreteScheduler" => FlowMatchEulerDiscreteScheduler.DiffusersDefaults,
        "FlowMatchHeunDiscreteScheduler" => FlowMatchHeunDiscreteScheduler.DiffusersDefaults,
        _ => throw new InvalidOptionException(SchedulerConfigJsonReader.DefaultSource + ": _class_name", $"'{className}' is not a supported scheduler class."),
    };

    private sealed record Entry(string ClassName, Func<SchedulerConfig, SchedulerConfig> Overrides);

    private static SchedulerConfig Same(SchedulerConfig c) => c;

    private static SchedulerConfig Karras(SchedulerConfig c) => c with { UseKarrasSigmas = true, UseExponentialSigmas = false, UseBetaSigmas = false };

    private static SchedulerConfig Sde(SchedulerConfig c) => c with { AlgorithmType = "sde-dpmsolver++" };

    // Lookup key: lower case, runs of spaces and '+' / '/' separators folded to one '+' between sampler and schedule.
    private static string Normalize(string name)
    {
        string trimmed = name.Trim().ToLowerInvariant();
        var builder = new System.Text.StringBuilder(trimmed.Length);
        bool pendingSpace = false;
        foreach (char c in trimmed)
        {
            if (char.IsWhiteSpace(c))
            {
                pendingSpace = builder.Length > 0;
                continue;
            }

            if (pendingSpace)
            {
                builder.Append(' ');
                pendingSpace = false;
            }

            builder.Append(c);
        }

        return builder.ToString().Replace(" + ", "+", StringComparison.Ordinal);
    }

    private static List<(string Name, Entry Entry)> Definitions()
    {
        var list = new List<(string, Entry)>();
        foreach (string className in s_classNames)
        {
            list.Add((className, new Entry(className, Same)));
        }

        // AUTOMATIC1111 (diffusers' "A1111/k-diffusion" mapping table).
        list.Add(("DDIM", new Entry("DDIMScheduler", Same)));
        list.Add(("DDPM", new Entry("DDPMScheduler", Same)));
        list.Add(("PLMS", new Entry("PNDMScheduler", c => c with { SkipPrkSteps = true })));
        list.Add(("PNDM", new Entry("PNDMScheduler", Same)));
        list.Add(("LMS", new Entry("LMSDiscreteScheduler", Same)));
        list.Add(("LMS Karras", new Entry("LMSDiscreteScheduler", Karras)));
        list.Add(("Euler", new Entry("EulerDiscreteScheduler", Same)));
        list.Add(("Euler Karras", new Entry("EulerDiscreteScheduler", Karras)));
        list.Add(("Euler a", new Entry("EulerAncestralDiscreteScheduler", Same)));
        list.Add(("Heun", new Entry("HeunDiscreteScheduler", Same)));
        list.Add(("Heun Karras", new Entry("HeunDiscreteScheduler", Karras)));
        list.Add(("DPM2", new Entry("KDPM2DiscreteScheduler", Same)));
        list.Add(("DPM2 Karras", new Entry("KDPM2DiscreteScheduler", Karras)));
        list.Add(("DPM2 a", new Entry("KDPM2AncestralDiscreteScheduler", Same)));
        list.Add(("DPM2 a Karras", new Entry("KDPM2AncestralDiscreteScheduler", Karras)));
        list.Add(("DPM++ 2M", new Entry("DPMSolverMultistepScheduler", Same)));
        list.Add(("DPM++ 2M Karras", new Entry("DPMSolverMultistepScheduler", Karras)));
        list.Add(("DPM++ 2M SDE", new Entry("DPMSolverMultistepScheduler", Sde)));
        list.Add(("DPM++ 2M SDE Karras", new Entry("DPMSolverMultistepScheduler", c => Karras(Sde(c)))));
        list.Add(("DPM++ 2S a", new Entry("DPMSolverSinglestepScheduler", Same)));
        list.Add(("DPM++ 2S a Karras", new Entry("DPMSolverSinglestepScheduler", Karras)));
        list.Add(("UniPC", new Entry("UniPCMultistepScheduler", Same)));
        list.Add(("LCM", new Entry("LCMScheduler", Same)));
        list.Add(("TCD", new Entry("TCDScheduler", Same)));

        // ComfyUI samplers, alone (= scheduler "normal") and with each schedule.
        (string Sampler, string ClassName, Func<SchedulerConfig, SchedulerConfig> Overrides)[] samplers =
        [
            ("euler", "EulerDiscreteScheduler", Same),
            ("euler_ancestral", "EulerAncestralDiscreteScheduler", Same),
            ("heun", "HeunDiscreteScheduler", Same),
            ("dpm_2", "KDPM2DiscreteScheduler", Same),
            ("dpm_2_ancestral", "KDPM2AncestralDiscreteScheduler", Same),
            ("lms", "LMSDiscreteScheduler", Same),
            ("dpmpp_2m", "DPMSolverMultistepScheduler", Same),
            ("dpmpp_2m_sde", "DPMSolverMultistepScheduler", Sde),
            ("dpmpp_2s_ancestral", "DPMSolverSinglestepScheduler", Same),
            ("ddim", "DDIMScheduler", Same),
            ("ddpm", "DDPMScheduler", Same),
            ("uni_pc", "UniPCMultistepScheduler", c => c with { SolverType = "bh1" }),
            ("uni_pc_bh2", "UniPCMultistepScheduler", c => c with { SolverType = "bh2" }),
            ("lcm", "LCMScheduler", Same),
        ];
        (string Schedule, Func<SchedulerConfig, SchedulerConfig> Overrides)[] schedules =
        [
            ("normal", c => c with { TimestepSpacing = "linspace" }),
            ("karras", Karras),
            ("exponential", c => c with { UseExponentialSigmas = true, UseKarrasSigmas = false, UseBetaSigmas = false }),
            ("beta", c => c with { UseBetaSigmas = true, UseKarrasSigmas = false, UseExponentialSigmas = false }),
            ("sgm_uniform", c => c with { TimestepSpacing = "trailing" }),
            ("simple", c => c with { TimestepSpacing = "trailing" }),
            ("ddim_uniform", c => c with { TimestepSpacing = "leading", StepsOffset = 1 }),
        ];
        foreach ((string sampler, string className, Func<SchedulerConfig, SchedulerConfig> samplerOverrides) in samplers)
        {
            // The sampler alone keeps the model's own schedule (where an A1111 name reads the same, that entry is it).
            list.Add((sampler, new Entry(className, samplerOverrides)));

            foreach ((string schedule, Func<SchedulerConfig, SchedulerConfig> scheduleOverrides) in schedules)
            {
                // LCM and the sigma-free DDIM/DDPM/PNDM-style classes have no sigma schedules to switch.
                bool sigmaSchedule = schedule is "karras" or "exponential" or "beta";
                if (sigmaSchedule && className is "DDIMScheduler" or "DDPMScheduler" or "LCMScheduler")
                {
                    continue;
                }

                list.Add(($"{sampler}+{schedule}", new Entry(className, c => scheduleOverrides(samplerOverrides(c)))));
            }
        }

        return list;
    }

    /// <summary>The A1111 / ComfyUI names a flow-matching model accepts, and what each selects.</summary>
    private static List<(string Name, Entry Entry)> FlowDefinitions()
    {
        const string euler = "FlowMatchEulerDiscreteScheduler";
        const string heun = "FlowMatchHeunDiscreteScheduler";
        var list = new List<(string, Entry)>
        {
            (euler, new Entry(euler, Same)),
            (heun, new Entry(heun, Same)),
            ("Euler", new Entry(euler, Same)),
            ("Euler Karras", new Entry(euler, Karras)),
            ("Heun", new Entry(heun, Same)),
        };
        // ComfyUI: the model's own (shifted) schedule for normal/simple/sgm_uniform; Euler re-spaces by the sigma kinds.
        foreach (string schedule in new[] { "normal", "simple", "sgm_uniform" })
        {
            list.Add(($"euler+{schedule}", new Entry(euler, Same)));
            list.Add(($"heun+{schedule}", new Entry(heun, Same)));
        }
        list.Add(("euler+karras", new Entry(euler, Karras)));
        list.Add(("euler+exponential", new Entry(euler, c => c with { UseExponentialSigmas = true, UseKarrasSigmas = false, UseBetaSigmas = false })));
        list.Add(("euler+beta", new Entry(euler, c => c with { UseBetaSigmas = true, UseKarrasSigmas = false, UseExponentialSigmas = false })));
        return list;
    }

    private static Dictionary<string, Entry> BuildEntries()
    {
        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        foreach ((string name, Entry entry) in Definitions())
        {
            // A1111 "DDIM"/"LMS"/... and ComfyUI "ddim"/"lms"/... coincide case-insensitively: the first (A1111) wins.
            entries.TryAdd(Normalize(name), entry);
        }

        return entries;
    }

    private static string[] BuildNames()
    {
        var names = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach ((string name, Entry _) in Definitions())
        {
            if (seen.Add(Normalize(name)))
            {
                names.Add(name);
            }
        }

        return [.. names];
    }
}
