# bash completion for graviton(1)                       -*- shell-script -*-
# Installed as share/bash-completion/completions/graviton.

_graviton()
{
	local cur prev words cword
	_init_completion || return

	local globals="--data-dir --server --token --config --index -v --verbose -q --quiet --log-level --version --help"
	local commands="init sector put get stat status repair rebalance serve metrics config scrub index placement ls cp cat rm gc forget"

	case $prev in
	--data-dir)
		_filedir -d
		return
		;;
	--config | -o | --output)
		_filedir
		return
		;;
	--log-level)
		COMPREPLY=($(compgen -W "debug info warn error" -- "$cur"))
		return
		;;
	--strategy)
		COMPREPLY=($(compgen -W "simple rack-aware zone-aware" -- "$cur"))
		return
		;;
	--path)
		_filedir -d
		return
		;;
	--sector) # a directory for index rebuild, a sector id for scrub
		[[ " ${words[*]} " == *" index "* ]] && _filedir -d
		return
		;;
	--server | --token | --index | --to | --url | --listen | --capacity | --rack | --zone | \
	--factor | --min-replicas | --min-racks | --min-zones | --sectors | --racks | --zones | \
	--parallel-jobs | --parallel-reads | --batch-size | --max-bytes-per-second | --interval | \
	--max-moves | --max-bytes | --threshold | --high-water | --grace | --range | --limit | \
	--after | --content-type | --s3 | --endpoint | --region | --s3-style | \
	--remote-sector)
		return
		;;
	esac

	# The command: the first word that is not a global option or its value.
	local i cmd="" sub=""
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--data-dir | --server | --token | --config | --index | --log-level) ((i++)) ;;
		-*) ;;
		*)
			if [[ -z $cmd ]]; then
				cmd=${words[i]}
			elif [[ -z $sub ]]; then
				sub=${words[i]}
			fi
			;;
		esac
	done

	local opts=""
	case $cmd in
	"")
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$globals" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return
		;;
	init) opts="--sectors --racks --zones --capacity --strategy --factor --min-replicas --min-racks --min-zones" ;;
	put)
		opts="--json --strategy --factor --min-replicas --min-racks --min-zones"
		[[ $cur != -* ]] && { _filedir; return; }
		;;
	get) opts="-o --output --range" ;;
	stat | status) opts="--json" ;;
	repair)
		[[ -z $sub && $cur != -* ]] && { COMPREPLY=($(compgen -W "queue" -- "$cur")); return; }
		if [[ $sub == queue ]]; then
			opts="--json --limit"
		else
			opts="--once --dry-run --json --events --parallel-jobs --batch-size --max-bytes-per-second --interval"
		fi
		;;
	rebalance) opts="--dry-run --max-moves --max-bytes --threshold --high-water --force --json" ;;
	serve) opts="--listen" ;;
	metrics) opts="" ;;
	ls) opts="--after --limit --buckets --json" ;;
	cp)
		opts="--content-type --json"
		[[ $cur != -* ]] && { _filedir; return; }
		;;
	cat) opts="" ;;
	rm | forget) opts="--json" ;;
	gc) opts="--dry-run --grace --json" ;;
	config)
		[[ -z $sub ]] && { COMPREPLY=($(compgen -W "check" -- "$cur")); return; }
		opts="--show-secrets"
		[[ $cur != -* ]] && { _filedir; return; }
		;;
	scrub) opts="--once --sector --json --parallel-reads --max-bytes-per-second --interval --presence" ;;
	index)
		[[ -z $sub ]] && { COMPREPLY=($(compgen -W "rebuild migrate" -- "$cur")); return; }
		case $sub in
		rebuild) opts="--sector --force --json --strategy --factor --min-replicas --min-racks --min-zones" ;;
		migrate) opts="--to --json" ;;
		esac
		;;
	placement)
		[[ -z $sub ]] && { COMPREPLY=($(compgen -W "explain set" -- "$cur")); return; }
		case $sub in
		explain) opts="--json" ;;
		set) opts="--factor --min-replicas --strategy --min-racks --min-zones --json" ;;
		esac
		;;
	sector)
		[[ -z $sub ]] && {
			COMPREPLY=($(compgen -W "add list set-health replace drain remove sweep" -- "$cur"))
			return
		}
		case $sub in
		add) opts="--path --url --remote-sector --s3 --endpoint --region --s3-style --capacity --rack --zone --adopt --json" ;;
		list) opts="--json" ;;
		set-health)
			opts="--json"
			[[ $cur != -* ]] && { COMPREPLY=($(compgen -W "healthy unhealthy" -- "$cur")); return; }
			;;
		replace) opts="--path --capacity --adopt --repair" ;;
		drain) opts="--dry-run --json" ;;
		remove) opts="--json" ;;
		sweep) opts="--dry-run --json --grace" ;;
		esac
		;;
	esac
	COMPREPLY=($(compgen -W "$opts $globals" -- "$cur"))
}
complete -F _graviton graviton
